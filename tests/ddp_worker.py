"""Helper run by tests/test_dist.py under torchrun (2 gloo processes): train or evaluate a tiny setup."""

import json
import sys
from pathlib import Path

import polars as pl
import torch

from interplay import dist as D
from interplay import evaluate as E
from interplay import model as M
from interplay import packing
from interplay import tokenizer as T
from interplay.train import RunPaths, TrainConfig, train


def main(kind: str, root: str, out: str) -> None:
    torch.set_num_threads(1)
    root_p = Path(root)
    tok = T.load(root_p / "tok.json")
    if kind == "train":
        texts = json.loads((root_p / "texts.json").read_text())
        blocks = packing.pack(packing.encode(tok, texts, "completion"), 256)
        cfg = TrainConfig(
            dataset="x",
            tokens=6 * 4 * 256,
            batch_size=4,
            seq_len=256,
            lr=3e-3,
            min_lr=3e-4,
            log_every=1,
            threads=1,
            device="cpu",
            checkpoint_every=100,
        )
        mc = M.ModelConfig(
            vocab_size=tok.get_vocab_size(),
            n_layer=1,
            d_model=32,
            n_head=2,
            n_kv_head=1,
            d_ff=64,
            max_seq_len=256,
        )
        o = Path(out)
        train(
            cfg,
            mc,
            blocks,
            RunPaths(o / "out", o / "resume", o / "live", root_p / "tok.json"),
            progress=False,
        )
    else:
        dd = D.setup("cpu")
        model = M.load(root_p / "model")
        df = E.run_sharded(
            model,
            tok,
            pl.read_parquet(root_p / "eval.parquet"),
            E.EvalConfig(samples=3, max_new_tokens=12, threads=1),
            torch.device("cpu"),
            dd,
            progress=False,
        )
        if dd.main:
            df.write_parquet(out)
    D.cleanup()


if __name__ == "__main__":
    main(*sys.argv[1:4])
