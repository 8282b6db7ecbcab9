"""Run by tests/test_dist.py under torchrun (2 gloo processes): train, GRPO or evaluate a tiny setup."""

import json
import sys
from pathlib import Path

import polars as pl
import torch

import tiny
from interplay import dist as D
from interplay import evaluate as E
from interplay import model as M
from interplay import packing
from interplay import tokenizer as T
from interplay.pool import make_pool
from interplay.train import RunPaths, train


def text_reward_score(text, gold, answer, modulus=None):
    """A stand-in verifier for the GRPO test: an untrained model never verifies, so reward a
    property random completions differ in (an even number of characters) to get real advantages."""
    from interplay.task.verify import Score

    return Score(1, 0, 0, 0, 0, 1, len(text) % 2 == 0)


def train_config():
    """The training settings both the single-process and the 2-process run use (tests/test_dist.py)."""
    return tiny.train_config(6, 256, log_every=1, checkpoint_every=100)


def rl_config():
    """The GRPO settings both the single-process and the 2-process run use (tests/test_dist.py)."""
    from interplay.rl import RLConfig

    return RLConfig(
        dataset="x",
        init="m",
        steps=2,
        prompts_per_step=4,
        rollouts=3,
        max_new_tokens=12,
        lr=1e-2,
        kl_coef=1e-3,
        threads=1,
        device="cpu",
    )


def main(kind: str, root: str, out: str) -> None:
    torch.set_num_threads(1)
    root_p = Path(root)
    tok = T.load(root_p / "tok.json")
    if kind == "train":
        texts = json.loads((root_p / "texts.json").read_text())
        blocks = packing.pack(packing.encode(tok, texts, "completion"), 256)
        o = Path(out)
        train(
            train_config(),
            tiny.config(tok.get_vocab_size(), 256),
            blocks,
            RunPaths(o / "out", o / "resume", o / "live", root_p / "tok.json"),
            progress=False,
        )
    elif kind == "rl":
        from interplay import rl

        rl.score = text_reward_score
        rows = pl.read_parquet(root_p / "eval.parquet").to_dicts()
        o = Path(out)
        rl.run(
            rl_config(),
            make_pool(rows, tok, None),
            tok,
            root_p / "model",
            rl.RunPaths(o / "out", o / "resume", o / "live", root_p / "tok.json"),
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
