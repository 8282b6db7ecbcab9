"""What the remaining cost levers would give against the time targets of the RL and grid issues.

Finding 1's branch (target 2 h), findings 1 and 4's RL runs, prompt filters and evaluations beyond
the base (target 2 h) and the whole grid (target 4 h), each simulated in two lanes as
``python -m interplay.lanes --estimate --from-scratch`` simulates them, from the recorded stage seconds
(``reports/lanes/seconds.json``) with the levers applied one after another:

- finding 3's evaluations cut to op 6-8 (their op 9-10 rows are all 0 and its OOD-hard rule reads
  op 8 only at the default); the factor is each evaluation's share of generated tokens at op 6-8,
  from its own Parquet;
- bf16 in RL's update: RL stages x the pilot's lane ratio (``--rl-factor``, default 0.87: 255 s
  against 293 s, the mean of three `rl_edge` seeds each, ``docs/log.md``, thirteenth session);
- a bf16 sampler: evaluation and prompt-filter stages / ``--sampler-speedup`` (default 1.22, the
  ninth session's benchmark; never run in the lanes, and it would need its own adoption rule).

    python benchmarks/cost_levers.py [--rl-factor 0.87] [--sampler-speedup 1.22]

Prints one row per lever (cumulative). An estimate, not a measurement: each factor is the only
thing changed; a lever's effect on what the stages compute is not modelled.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl
import yaml

from interplay import lanes

F3_EVALS = ("mid_b0", "rl_b20", "rl_b50", "rl_b80", "rl_b100")
F3_KEEP = (6, 8)


def _beyond_base(stage: str) -> bool:
    """Findings 1 and 4's RL runs, prompt filters and evaluations, the base's evaluations left out."""
    return stage.split("@")[0] in ("rl", "filter", "evaluate") and not stage.startswith("evaluate@base")


# what the targets of the RL and grid issues time: name, lanes targets, target hours, stages counted
SCOPES = [
    ("finding 1's branch", ["figures_edge"], 2.0, lambda s: True),
    ("findings 1 + 4 beyond the base", ["figures_edge", "figures_process"], 2.0, _beyond_base),
    ("the whole grid", ["report"], 4.0, lambda s: True),
]


def token_share(name: str, lo: int, hi: int) -> float:
    """The share of an evaluation's generated tokens at op lo..hi (samples x mean length)."""
    df = pl.read_parquet(Path("reports/eval") / f"{name}.parquet")
    tok = df.with_columns((pl.col("n") * pl.col("mean_len")).alias("tok"))
    kept = tok.filter(pl.col("op").is_between(lo, hi))["tok"].sum()
    return float(kept / tok["tok"].sum())


def sub_plan(plan: dict[str, frozenset[str]], keep: Callable[[str], bool]) -> dict[str, frozenset[str]]:
    """The stages of ``plan`` that ``keep`` accepts, each waiting only for kept stages."""
    return {s: frozenset(u for u in ups if keep(u)) for s, ups in plan.items() if keep(s)}


def wall_hours(
    plan: dict[str, frozenset[str]],
    cost: Callable[[str], float],
    lone: Callable[[str], float],
    targets: Iterable[str],
) -> tuple[float, float]:
    rank = lanes.target_ranks(plan, plan, list(targets))  # the plan is its own upstream map
    wall = lanes.simulate(plan, cost, 2, rank, lone)
    return wall / 3600, sum(map(cost, plan)) / 3600


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rl-factor", type=float, default=0.87)
    ap.add_argument("--sampler-speedup", type=float, default=1.22)
    args = ap.parse_args()
    root = Path.cwd()
    upstream, _ = lanes.dag(root)
    every = set(upstream)
    plans = {  # the scope -> its stages (a clean clone's plan for its targets), its targets, target hours
        name: (sub_plan(lanes.select(upstream, every, targets), keep), targets, hours)
        for name, targets, hours, keep in SCOPES
    }
    base_cost, base_lone = lanes.measured_cost(root), lanes.measured_cost(root, alone=True)
    f3 = {f"evaluate@{n}": token_share(n, *F3_KEEP) for n in F3_EVALS}
    params = yaml.safe_load(Path("params.yaml").read_text())
    assert all(str(params["evaluate"]["runs"][n].get("ops")) == "6-10" for n in F3_EVALS), "F3 ops changed"

    def factor(stage: str, levels: int) -> float:
        f = 1.0
        if levels >= 1:
            f *= f3.get(stage, 1.0)
        if levels >= 2 and stage.startswith(("rl@", "rl_calibrated@")):
            f *= args.rl_factor
        if levels >= 3 and stage.startswith(("evaluate@", "filter@", "ladder@")):
            f /= args.sampler_speedup
        return f

    levers = [
        "recorded stage seconds",
        "+ finding 3's evaluations at op 6-8",
        f"+ bf16 RL update (x{args.rl_factor})",
        f"+ bf16 sampler (/{args.sampler_speedup}, benchmark only)",
    ]
    print(
        f"finding 3's evaluations, share of tokens at op {F3_KEEP[0]}-{F3_KEEP[1]}: "
        + ", ".join(f"{k.split('@')[1]} {v:.2f}" for k, v in f3.items())
    )
    head = (
        "| lever (cumulative) | "
        + " | ".join(f"{p} (target {h:.0f} h)" for p, (_, _, h) in plans.items())
        + " |"
    )
    print(head)
    print("|---" * (len(plans) + 1) + "|")
    for level, name in enumerate(levers):
        cells = []
        for plan, targets, _ in plans.values():
            wall, stage = wall_hours(
                plan,
                lambda s, lv=level: base_cost(s) * factor(s, lv),
                lambda s, lv=level: base_lone(s) * factor(s, lv),
                targets,
            )
            cells.append(f"{wall:.2f} h wall, {stage:.2f} h stage")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
