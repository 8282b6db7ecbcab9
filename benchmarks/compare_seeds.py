"""Paired pass@k differences of runs with several training seeds against a reference evaluation, by
the estimate every finding uses (``interplay.findings.paired_diff``: mean over seeds and problems,
hierarchical 95% interval). For runs evaluated outside the DAG (a pilot, a probe) beside the grid's.

    python benchmarks/compare_seeds.py --ref reports/eval/base.parquet --ops 2-5 --k 128 \
        --run default reports/eval/rl_edge.parquet reports/eval/rl_edge_s1.parquet ... \
        --run kl05 /work/pilot/reports/eval/pilot_kl05_id.parquet ...

Each ``--run LABEL PATH...`` lists one evaluation per training seed, in seed order; the reference is
one evaluation (or as many seeds as every run).
"""

from __future__ import annotations

import argparse

import polars as pl

from interplay.findings import SEED_COL, paired_diff


def stacked(paths: list[str]) -> pl.DataFrame:
    """One frame of a run's per-seed evaluations, each row tagged with its seed's index."""
    frames = [pl.read_parquet(p).with_columns(pl.lit(i).alias(SEED_COL)) for i, p in enumerate(paths)]
    return pl.concat(frames, how="vertical_relaxed")


def ops_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", nargs="+", required=True, help="the reference's evaluation(s)")
    ap.add_argument("--run", nargs="+", action="append", required=True, metavar="LABEL PATH")
    ap.add_argument("--ops", required=True, help="op range, e.g. 2-5")
    ap.add_argument("--k", type=int, default=128)
    args = ap.parse_args()
    ops = ops_range(args.ops)
    ref = stacked(args.ref)
    print(f"pass@{args.k} minus the reference, op {args.ops}, in points (95% hierarchical interval)")
    for label, *paths in args.run:
        if not paths:
            ap.error(f"--run {label}: no evaluation listed")
        m, lo, hi = paired_diff(stacked(paths), ref, ops, args.k)
        print(f"  {label:24s} {100 * m:+6.1f} [{100 * lo:.1f}, {100 * hi:.1f}]  ({len(paths)} seeds)")


if __name__ == "__main__":
    main()
