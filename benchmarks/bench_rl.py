"""One GRPO step's time split into sampling, reward and update; RL prompts/s; reward per step.

    python benchmarks/bench_rl.py [--init base] [--dataset rl_edge] [--steps 5] [--lr 1e-5] [--threads 2]

Runs ``rl.run`` with ``rl.defaults`` from params.yaml (overridable here) on a built model and RL
dataset, in a temporary directory, and prints one row per step from its dvclive log. Doubles as the
quick LR probe used to pick ``rl.defaults.lr`` (look at reward and KL over the first steps).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import tempfile
from pathlib import Path

import polars as pl
import yaml

from interplay import rl, tokenizer
from interplay.pool import make_pool
from interplay.runtime import set_threads

COLS = (
    ("reward/mean", "reward"),
    ("reward/verified", "verified"),
    ("policy/kl", "kl"),
    ("rollout/mean_len", "len"),
    ("perf/sample_seconds", "sample_s"),
    ("perf/reward_seconds", "reward_s"),
    ("perf/update_seconds", "update_s"),
    ("perf/step_seconds", "step_s"),
    ("perf/prompts_per_s", "prompts/s"),
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", default="base")
    ap.add_argument("--dataset", default="rl_edge")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--reward", default=None)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    p = yaml.safe_load(Path("params.yaml").read_text())
    defaults = {**p["rl"]["defaults"], "threads": a.threads, "steps": a.steps}
    if a.lr is not None:
        defaults["lr"] = a.lr
    if a.reward is not None:
        defaults["reward"] = a.reward
    cfg = rl.config_from_params({"dataset": a.dataset, "init": a.init}, "bench", defaults)
    cfg = dataclasses.replace(cfg, checkpoint_every=10**9)
    init_dir = Path("data/models") / a.init
    data_path = Path("data/datasets") / f"{a.dataset}.parquet"
    for f in (init_dir / "model.safetensors", data_path):
        if not f.exists():
            raise SystemExit(f"{f}: missing; build it first (dvc repro)")
    set_threads(cfg.threads)
    tok = tokenizer.load(init_dir / "tokenizer.json")
    cols = ["prompt", "gold", "answer", "op", "uid", "modulus", "text"]
    rows = pl.read_parquet(data_path, columns=cols).to_dicts()
    pool = make_pool(rows, tok, cfg.ops)
    positions = json.loads((init_dir / "config.json").read_text())["max_position_embeddings"]
    cfg = rl.resolve_max_new(cfg, pool, positions, "rl.defaults")
    with tempfile.TemporaryDirectory() as d:
        paths = rl.RunPaths(Path(d, "out"), Path(d, "resume"), Path(d, "live"), init_dir / "tokenizer.json")
        summary = rl.run(cfg, pool, tok, init_dir, paths, progress=False)
        series = {}
        for key, _ in COLS:
            f = Path(d, "live", "plots", "metrics", *key.split("/")).with_suffix(".tsv")
            with f.open() as fh:
                series[key] = [float(r[key.split("/")[-1]]) for r in csv.DictReader(fh, delimiter="\t")]
    print(
        f"init {a.init}, dataset {a.dataset}, {cfg.prompts_per_step} prompts x {cfg.rollouts} rollouts, "
        f"lr {cfg.lr:g}, reward {cfg.reward}, {cfg.threads} threads"
    )
    print("| step | " + " | ".join(h for _, h in COLS) + " |")
    print("|" + "---|" * (len(COLS) + 1))
    for i in range(cfg.steps):
        print(f"| {i + 1} | " + " | ".join(f"{series[k][i]:.3f}" for k, _ in COLS) + " |")
    n = cfg.steps
    mean = {h: sum(series[k]) / n for k, h in COLS}
    print(
        f"mean step {mean['step_s']:.2f} s = sampling {mean['sample_s']:.2f} + reward {mean['reward_s']:.2f} "
        f"+ update {mean['update_s']:.2f}; {mean['prompts/s']:.2f} prompts/s; "
        f"{summary['wall_seconds']:.1f} s for {n} steps"
    )


if __name__ == "__main__":
    main()
