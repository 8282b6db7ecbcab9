"""Peak memory and throughput of the data path at growing sizes (issue: paper scale in bounded memory).

For each size (tokens of the default pre-training mixture) three steps run, each in its own process
so its peak resident memory (max RSS) is its own:

1. ``generate``: ``data.build`` (streamed generation and Parquet writing), one worker;
2. ``tokens``: ``tokens.build`` (the memory-mapped token stream);
3. ``start``: the pre-training start-up: open the stream, pack the plan, assemble one batch;
4. ``pool``: the same dataset as an RL prompt pool (``interplay.pool``): index it, draw three steps of
   1,024 prompts (the paper's step) from it.

    python benchmarks/bench_data_memory.py                  # 1M, 10M, 100M tokens
    python benchmarks/bench_data_memory.py --sizes 1e6 1e7  # fewer
    python benchmarks/bench_data_memory.py --work /tmp/bdm  # keep the datasets; a later run with the
                                                            # same --work skips their generation
    python benchmarks/bench_data_memory.py --kinds tokens --token-workers 2  # one dataset, 2 processes

Peak memory should stay flat across sizes (the data are streamed, only per-document integers grow);
throughput is per core (one worker; one thread for torch and for the tokenizer).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def step(kind: str, work: Path, tokens: int, workers: int = 1) -> dict:
    """One step in this process; prints a JSON line with its figures."""
    from interplay import data, inputs, packing
    from interplay import tokenizer as T
    from interplay import tokens as TK
    from interplay.task.spec import task_spec_from_params

    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    task = task_spec_from_params(p["task"])
    entry = {**p["datasets"]["pretrain"], "size": {"tokens": tokens}}
    spec = data.dataset_spec("pretrain", entry)
    ds, tok_file, stream_dir = work / "pretrain.parquet", work / "tokenizer.json", work / "stream"
    t0 = time.perf_counter()
    if kind == "generate":
        stats = data.build(ds, task, spec, workers=1)
        out = {"problems": stats["problems"], "tokens": stats["tokens"]}
    elif kind == "tokens":
        if not tok_file.exists():  # the task's lexicon makes every word one token: train on a slice
            from interplay.io import parquet_batches

            # the first 2,000 rows only (reading the whole column first cost 900 MB at 100M tokens)
            texts = next(iter(parquet_batches(ds, 2000, ["text"]))).column("text").to_pylist()
            T.save(T.train(texts, max_number=task.modulus - 1 if task.modulus else 999), tok_file)
        meta = TK.build(ds, T.load(tok_file), stream_dir, workers=workers)
        procs = len(TK.shares(ds, workers))  # the processes that ran: one per share of the row groups
        out = {"tokens": meta["n_tokens"], "docs": meta["n_docs"], "processes": procs}
    elif kind == "pool":  # the dataset as an RL prompt pool: index it, draw 3 steps of 1,024 prompts
        import numpy as np

        from interplay.pool import read_pool

        pool = read_pool(ds, T.load(tok_file), None)
        rng = np.random.default_rng(0)
        for _ in range(3):
            drawn = pool.get(rng.integers(0, len(pool), 1024).tolist())
        out = {"prompts": len(pool), "drawn_tokens": sum(len(d.ids) for d in drawn)}
    else:
        blocks = packing.StreamBlocks.pack(inputs.token_stream(stream_dir, tok_file), 512, "completion")
        import numpy as np

        packing.batch_tensors(blocks, np.arange(min(8, len(blocks))), True, "cpu")
        out = {"blocks": len(blocks), "fill": round(blocks.fill, 4)}
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


KINDS = ("generate", "tokens", "start", "pool")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    ap.add_argument("--work", type=Path, help="keep each size's files in WORK/<tokens>/ and reuse them")
    ap.add_argument(
        "--kinds", nargs="+", default=list(KINDS), choices=KINDS, help="steps to run (default: all)"
    )
    ap.add_argument(
        "--token-workers", type=int, default=1, help="processes tokenising one dataset (default 1: per core)"
    )
    ap.add_argument("--step", nargs=3, metavar=("KIND", "WORK", "TOKENS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        kind, work, n = args.step
        print(json.dumps(step(kind, Path(work), int(n), args.token_workers)))
        return
    print(f"{'tokens':>12} {'step':>9} {'peak RSS MB':>12} {'seconds':>9}  throughput per core")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = args.work / str(int(size)) if args.work else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            for kind in [k for k in KINDS if k in args.kinds]:
                if kind == "generate" and (work / "pretrain.parquet").exists():
                    print(f"{int(size):>12,} {kind:>9} {'(kept)':>12} {'':>9}  {work / 'pretrain.parquet'}")
                    continue
                cmd = [sys.executable, __file__, "--step", kind, str(work), str(int(size))]
                cmd += ["--token-workers", str(args.token_workers)]
                # one core: torch's threads and the tokenizer's Rust (rayon) threads, whose batch
                # encoding otherwise takes every core
                one = {"OMP_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
                r = subprocess.run(cmd, capture_output=True, text=True, check=True, env=one)
                out = json.loads(r.stdout.strip().splitlines()[-1])
                if kind == "generate":
                    rate = f"{out['problems'] / out['seconds']:,.0f} problems/s"
                elif kind == "tokens":
                    rate = f"{out['tokens'] / out['seconds']:,.0f} tokens/s"
                    if (w := out["processes"]) > 1:  # max RSS is then the parent's, which joins the shares
                        rate += f" with {w} processes ({out['tokens'] / out['seconds'] / w:,.0f} per process)"
                elif kind == "pool":
                    rate = f"{out['prompts']:,} prompts indexed, 3 x 1,024 drawn"
                else:
                    rate = f"{out['blocks']:,} blocks planned"
                print(
                    f"{int(size):>12,} {kind:>9} {out['max_rss_mb']:>12,.1f} {out['seconds']:>9.1f}  {rate}"
                )


if __name__ == "__main__":
    main()
