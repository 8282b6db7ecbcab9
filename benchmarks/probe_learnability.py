"""One learnability probe in one process: generate data, train for a wall budget, evaluate strict pass@k.

The quick loop behind the lever table in reports/learnability.md (each row lists its command). The
same settings run through DVC as experiments (`dvc exp run -S task.names=fused ...`); this script
only skips DVC's bookkeeping to iterate faster.

    python benchmarks/probe_learnability.py NAME MINUTES THREADS '{"task": {...}, "model": {...}, ...}'

JSON keys: task (TaskSpec fields), ops, modes, tokens (dataset size), batch_size, seq_len, lr, min_lr,
decay_start, model (ModelConfig fields), tps (expected tokens/s, sets the step count), loss_on,
max_new. Output: /tmp/probe/NAME/ (model, dvclive logs, eval_result.parquet) and a per-op line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl
import torch

from interplay import data, packing
from interplay import evaluate as E
from interplay import model as M
from interplay import tokenizer as T
from interplay.task.spec import TaskSpec
from interplay.train import RunPaths, TrainConfig, train


def main() -> None:
    name, minutes, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    over = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    torch.set_num_threads(threads)
    task = TaskSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in over.get("task", {}).items()})
    out = Path(f"/tmp/probe/{name}")
    out.mkdir(parents=True, exist_ok=True)
    modes = over.get("modes", ["forward"])
    spec = data.dataset_spec(
        "p",
        {
            "split": "pre",
            "size": {"tokens": over.get("tokens", 8_000_000)},
            "ops": over.get("ops", "2-8"),
            "modes": modes,
        },
    )
    t = time.time()
    ex = data.generate(task, spec, workers=1)
    print("generated", len(ex), f"{time.time() - t:.0f}s", flush=True)
    tok = T.train(
        [e.text for e in ex[:20000]],
        style=task.names,
        max_number=(task.modulus - 1 if task.modulus else 1000),
    )
    T.save(tok, out / "tok.json")
    evspec = data.dataset_spec(
        "e", {"split": "eval", "size": {"problems": 13 * 12}, "ops": "2-14", "modes": modes}
    )
    data.write(out / "eval.parquet", data.generate(task, evspec), evspec, task)
    blocks = packing.pack(
        packing.encode(tok, [e.text for e in ex], over.get("loss_on", "completion")), over.get("seq_len", 512)
    )
    mc = M.ModelConfig(
        vocab_size=tok.get_vocab_size(),
        **over.get(
            "model",
            {"n_layer": 4, "d_model": 128, "n_head": 4, "n_kv_head": 2, "d_ff": 384, "max_seq_len": 512},
        ),
    )
    cfg = TrainConfig(
        dataset="p",
        tokens=int(minutes * 60 * over.get("tps", 4000)),
        batch_size=over.get("batch_size", 8),
        seq_len=over.get("seq_len", 512),
        lr=over.get("lr", 2e-3),
        min_lr=over.get("min_lr", 2e-4),
        warmup=0.03,
        decay_start=over.get("decay_start", 0.0),
        log_every=20,
        threads=threads,
        checkpoint_every=10**9,
    )
    r = train(
        cfg,
        mc,
        blocks,
        RunPaths(out / "model", out / "resume", out / "live", out / "tok.json"),
        progress=False,
    )
    print(f"trained {r.steps} steps, final loss {r.final_loss:.3f}, {r.tok_per_s:,.0f} tok/s", flush=True)
    problems = E.select_problems(pl.read_parquet(out / "eval.parquet"), 12)
    df = E.run(
        M.load(out / "model"),
        tok,
        problems,
        E.EvalConfig(samples=32, max_new_tokens=over.get("max_new", 300), batch_rows=256),
        torch.device("cpu"),
        progress=False,
    )
    df.write_parquet(out / "eval_result.parquet")
    per_op = E.per_op(df)
    print(json.dumps(per_op), flush=True)


if __name__ == "__main__":
    main()
