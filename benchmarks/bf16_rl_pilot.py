"""The adoption rule for bf16 autocast in RL's update (``rl.defaults.precision: bf16``), written
down (here and in docs/log.md, thirteenth session) before its pilot ran.

The pilot retrains finding 1's RL edge at its three training seeds with ``precision: bf16`` and
nothing else changed, and evaluates each as the grid does (``evaluate@rl_edge*``: op 2-5;
``evaluate@rl_edge*_edgeset``: op 6-8, 96 problems per op). It is compared with the committed fp32
evaluations of the same runs, seed paired with seed (same initial model, prompt order and sampling
seeds), by the estimate every finding uses (``interplay.findings.paired_diff``: mean over seeds and
problems, hierarchical 95% interval).

bf16 becomes ``rl.defaults.precision`` for the next rerun of every RL stage if, for both
ID (op 2-5) strict pass@128 and OOD-edge (op 6-8) strict pass@128, bf16 - fp32
  - has a 95% interval that reaches 0 or above (no evidence that bf16 is worse), and
  - has a point estimate no more than 3 points below 0 (the ID-loss tolerance issue 20 uses).
Otherwise every RL stage stays fp32. The pass@1 differences are printed beside, outside the rule.
Whatever the rerun's verdicts then are, they are reported; this rule is not revisited after them.

    python benchmarks/bf16_rl_pilot.py --fp32 reports/eval --bf16 /work/pilot/reports/eval
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from compare_seeds import stacked  # benchmarks/ is on the path when run as a script
from interplay.findings import SEED_COL, paired_diff

RUNS = ["rl_edge", "rl_edge_s1", "rl_edge_s2"]
MEASURES = {"ID pass@128": ("", [2, 3, 4, 5]), "OOD-edge pass@128": ("_edgeset", [6, 7, 8])}
MARGIN = 0.03  # the point estimate may be at most 3 points below fp32's


def seeds(folder: Path, suffix: str, ops: list[int]) -> pl.DataFrame:
    """RL edge's three seeds' evaluations in ``folder`` as one frame (compare_seeds.stacked), at ``ops``."""
    return stacked([str(folder / f"{r}{suffix}.parquet") for r in RUNS]).filter(pl.col("op").is_in(ops))


def adopt(diffs: dict[str, tuple[float, float, float]]) -> bool:
    """The rule: every pass@128 difference has hi >= 0 and mean >= -MARGIN."""
    return all(hi >= 0 and m >= -MARGIN for m, _, hi in diffs.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", type=Path, required=True, help="folder of the fp32 evaluations")
    ap.add_argument("--bf16", type=Path, required=True, help="folder of the bf16 pilot's evaluations")
    args = ap.parse_args()
    diffs = {}
    print("bf16 - fp32, RL edge, 3 training seeds paired, points (95% hierarchical interval)")
    for name, (suffix, ops) in MEASURES.items():
        a, b = seeds(args.bf16, suffix, ops), seeds(args.fp32, suffix, ops)
        diffs[name] = paired_diff(a, b, ops, 128)
        m1, lo1, hi1 = paired_diff(a, b, ops, 1)
        m, lo, hi = diffs[name]
        n = a.filter(pl.col(SEED_COL) == 0).height
        print(f"  {name:18s} {100 * m:+5.1f} [{100 * lo:.1f}, {100 * hi:.1f}]   ({n} problems)")
        label = name.replace("128", "1")
        print(f"  {label:18s} {100 * m1:+5.1f} [{100 * lo1:.1f}, {100 * hi1:.1f}]   (outside the rule)")
    print("rule: adopt bf16" if adopt(diffs) else "rule: keep fp32")


if __name__ == "__main__":
    main()
