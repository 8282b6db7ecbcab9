"""Probe an RL lever out of the DAG: one GRPO run from a built model, evaluated on a few ops, paired
against an existing evaluation of the same problems.

    python benchmarks/probe_rl.py NAME '{"dynamic_sampling": true, "max_refill": 4}' \
        [--dataset rl_edge] [--init base] [--ops 5-8] [--against base rl_edge] [--threads 2]
    python benchmarks/probe_rl.py NAME --compare --edge 6-7 --against base   # a finished probe again
    python benchmarks/probe_rl.py base96 --model data/models/base --problems-per-op 96   # no RL

``--against`` names evaluations in ``reports/eval/`` or, as ``probe:NAME``, another probe's; each
comparison is paired over the problems both evaluations hold (per-problem seeds make a problem's
samples the same whatever else was evaluated beside it).

The run uses ``rl.defaults`` from params.yaml plus the JSON overrides, writes to /tmp/interplay-probe/NAME
(never to data/ or reports/), evaluates with ``evaluate.defaults`` on the first ``problems_per_op``
problems of each op of the ``eval`` dataset, and prints strict pass@1 / pass@n per op and the paired
difference in the ``--edge`` ops against each ``--against`` evaluation.
Nothing here is cached: a probe is for deciding which change is worth a ``dvc exp run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from interplay import evaluate as E
from interplay import inputs, rl, tokenizer
from interplay.data import parse_ops
from interplay.passk import bootstrap_ci, pass_at_k_array
from interplay.pool import make_pool
from interplay.runtime import set_threads

PROBE_DIR = Path("/tmp/interplay-probe")  # never data/ or reports/: nothing here is cached


def _pass(df: pl.DataFrame, k: int) -> np.ndarray:
    return pass_at_k_array(df["n"].to_numpy(), df["c_strict"].to_numpy(), k)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("overrides", nargs="?", default="{}", help="JSON object merged over rl.defaults")
    ap.add_argument("--dataset", default="rl_edge")
    ap.add_argument("--init", default="base")
    ap.add_argument("--ops", default="5-8", help="ops to evaluate")
    ap.add_argument("--edge", default="6-8", help="ops of the paired comparison")
    ap.add_argument("--against", nargs="*", default=["base"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compare", action="store_true", help="no RL: re-read the probe's evaluation")
    ap.add_argument("--model", help="no RL: evaluate this model directory instead")
    ap.add_argument("--problems-per-op", type=int, help="default: evaluate.defaults.problems_per_op")
    args = ap.parse_args()
    out = PROBE_DIR / args.name
    ops = sorted(parse_ops(args.ops, "--ops"))
    if args.compare:
        if not (out / "eval.parquet").exists():
            raise SystemExit(f"--compare: no evaluation at {out / 'eval.parquet'}; run the probe first")
        compare(pl.read_parquet(out / "eval.parquet"), args.name, ops, args.edge, args.against)
        return

    p = yaml.safe_load(Path("params.yaml").read_text())
    ecfg = dataclasses.replace(E.config_from_params(p["evaluate"]["defaults"]), threads=args.threads)
    if args.problems_per_op is not None:
        ecfg = dataclasses.replace(ecfg, problems_per_op=args.problems_per_op)
    set_threads(args.threads)
    if args.model:
        model_dir = Path(args.model)
        if not (model_dir / "config.json").exists():
            raise SystemExit(f"--model: no checkpoint at {model_dir}")
        tok = tokenizer.load(model_dir / "tokenizer.json")
    else:
        entry = {"dataset": args.dataset, "init": args.init, **json.loads(args.overrides)}
        entry["threads"] = args.threads
        cfg = rl.config_from_params(entry, f"probe {args.name}", p["rl"]["defaults"])
        init = Path("data/models") / args.init
        tok = tokenizer.load(init / "tokenizer.json")
        cols = ["prompt", "gold", "answer", "op", "uid", "modulus", "text"]
        rows = pl.read_parquet(f"data/datasets/{cfg.dataset}.parquet", columns=cols).to_dicts()
        pool = make_pool(rows, tok, cfg.ops)
        positions = json.loads((init / "config.json").read_text())["max_position_embeddings"]
        cfg = rl.resolve_max_new(cfg, pool, positions, "rl.defaults")
        model_dir = out / "model"
        paths = rl.RunPaths(model_dir, out / "resume", out / "train", init / "tokenizer.json")
        t = time.perf_counter()
        summary = rl.run(cfg, pool, tok, init, paths, progress=False)
        reward = summary["final/reward/mean"]
        print(f"{args.name}: RL {time.perf_counter() - t:.0f} s, final reward {reward:.3f}")

    probs = E.select_problems(pl.read_parquet("data/datasets/eval.parquet"), ecfg.problems_per_op)
    probs = probs.filter(pl.col("op").is_in(ops))
    device = E.tensor_device("cpu")
    t = time.perf_counter()
    df = E.run(inputs.model(model_dir, device).eval(), tok, probs, ecfg, device, progress=False)
    out.mkdir(parents=True, exist_ok=True)
    df.write_parquet(out / "eval.parquet")
    print(f"{args.name}: evaluation {time.perf_counter() - t:.0f} s ({probs.height} problems)")
    compare(df, args.name, ops, args.edge, args.against)


def _eval_path(name: str) -> Path:
    if name.startswith("probe:"):
        return PROBE_DIR / name.removeprefix("probe:") / "eval.parquet"
    return Path("reports/eval") / f"{name}.parquet"


def compare(df: pl.DataFrame, name: str, ops: list[int], edge_ops: str, against: list[str]) -> None:
    """Per-op strict pass@1 / pass@n of the probe and of each other evaluation on the same
    problems, and the paired difference (probe - other) over the edge ops, 95% bootstrap."""
    df = df.filter(pl.col("op").is_in(ops))
    keys = df.select("uid")
    edge = sorted(parse_ops(edge_ops, "--edge"))
    n = int(df["n"].min())
    head = " | ".join(f"op {op} @1 / @{n}" for op in ops)
    print(f"| model | {head} | edge @{n} - other | edge @1 - other |")
    print("|---" * (len(ops) + 3) + "|")
    for other in [name, *against]:
        o = df if other == name else pl.read_parquet(_eval_path(other))
        o = o.join(keys, on="uid", how="semi").sort("uid")
        cells = []
        for op in ops:
            sub = o.filter(pl.col("op") == op)
            cells.append(f"{_pass(sub, 1).mean():.3f} / {_pass(sub, n).mean():.3f}")
        diffs = []
        if other != name:  # paired over the edge problems both evaluations hold
            oe = o.filter(pl.col("op").is_in(edge))
            mine = df.join(oe.select("uid"), on="uid", how="semi").sort("uid")
            for k in (n, 1):
                d = _pass(mine, k) - _pass(oe, k)
                lo, hi = bootstrap_ci(d)
                diffs.append(f"{100 * d.mean():+.1f} [{100 * lo:.1f}, {100 * hi:.1f}]")
        print(f"| {other} | {' | '.join(cells)} | {' | '.join(diffs or ['', ''])} |")


if __name__ == "__main__":
    main()
