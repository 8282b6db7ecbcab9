"""DVC stages ``figures_<finding>``: one finding's figures and tables -> reports/findings/<finding>.json.

python stages/figures.py edge | context | midrl | process | ladder
"""

import json
import sys
from dataclasses import asdict
from pathlib import Path

from interplay import findings as F
from interplay import jobs, params
from interplay.io import write_json
from interplay.runtime import run_stage

FIG_DIR = Path("reports/figures")


def main(key: str) -> None:
    p = params.load()
    job = jobs.figures(p, key)
    cfg, ranges = job.cfg, job.ranges
    F.rl_logs(p, key, cfg)  # the reward-signal table's inputs, checked before any figure
    fig_dir = FIG_DIR / key
    fig_dir.mkdir(parents=True, exist_ok=True)
    if key == "edge":
        f = F.edge_of_competence(cfg, ranges, fig_dir)
    elif key == "context":
        f = F.context_seed(cfg, cfg["ops"], fig_dir)
    elif key == "midrl":
        f = F.mid_vs_rl(cfg, ranges, fig_dir)
    elif key == "process":
        f = F.process_rewards(cfg, ranges, fig_dir)
    elif key == "ladder":
        f = F.ladder_figure(cfg["run"], ranges, fig_dir)
    write_json(f"reports/findings/{key}.json", json.loads(json.dumps(asdict(f), default=float)))
    print(f"{f.title}: {f.verdict}. {f.summary}")


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"figures_{sys.argv[1]}")
