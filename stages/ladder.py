"""DVC stage ``ladder@<run>``: evaluate a pre-training run's ladder checkpoints (paper Fig. 9).

Writes reports/ladder/<run>.parquet: one row per (checkpoint step, problem), and
reports/ladder/<run>.json: strict pass@1 / pass@n per op per step.
"""

import sys
from pathlib import Path

import polars as pl

from interplay import evaluate as E
from interplay import inputs, jobs, params, runs
from interplay.io import atomic_path, write_json
from interplay.runtime import run_stage, set_threads


def main(run: str) -> None:
    job = jobs.ladder(params.load(), run)
    cfg = job.cfg
    data_path = Path(f"data/datasets/{job.dataset}.parquet")
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path}: evaluation set missing (ladder.dataset)")
    ckpts = sorted((runs.model_dir(run) / "ladder").glob("step*"))
    if not ckpts:
        raise FileNotFoundError(
            f"{runs.model_dir(run)}/ladder: no ladder checkpoints (pretrain.{run}.ladder)"
        )
    set_threads(cfg.threads)
    device = E.tensor_device(cfg.device)
    toks = {ck: inputs.tokenizer(ck / "tokenizer.json") for ck in ckpts if inputs.checkpoint(ck)}
    problems = E.select_problems(inputs.parquet(data_path, "evaluation set"), cfg.problems_per_op)
    frames, summary = [], {}
    for ck in ckpts:
        meta = inputs.json_file(ck / "config.json", "checkpoint config").get("interplay_meta", {})
        step = int(meta.get("step", int(ck.name[4:])))
        df = E.run(inputs.model(ck, device).eval(), toks[ck], problems, cfg, device)
        df = df.with_columns(pl.lit(step).alias("step"), pl.lit(meta.get("fraction", 0.0)).alias("fraction"))
        frames.append(df)
        summary[str(step)] = E.per_op(df)
        print(
            f"ladder@{run} step {step}: "
            + ", ".join(f"op{o}={v['pass@1']:.2f}" for o, v in summary[str(step)].items())
        )
    out = pl.concat(frames, how="diagonal_relaxed")
    with atomic_path(f"reports/ladder/{run}.parquet") as tmp:
        out.write_parquet(tmp)
    write_json(f"reports/ladder/{run}.json", summary)


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"ladder@{sys.argv[1]}")
