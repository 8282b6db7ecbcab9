"""Matplotlib figures for the paper's findings (PNG; DVC's HTML plots need a CDN, PNGs do not)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from interplay.io import atomic_path
from interplay.passk import ks_for, pass_at_k_array


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def passk_by_k(df: pl.DataFrame, ops: Sequence[int], col: str = "c_strict") -> tuple[list[int], list[float]]:
    sub = df.filter(pl.col("op").is_in(list(ops)))
    if sub.height == 0:
        return [], []
    ks = ks_for(int(sub["n"].min()))
    return ks, [float(pass_at_k_array(sub["n"].to_numpy(), sub[col].to_numpy(), k).mean()) for k in ks]


def passk_per_op(
    df: pl.DataFrame, k: int | None = None, col: str = "c_strict"
) -> tuple[list[int], list[float]]:
    ops = sorted(set(df["op"].to_list()))
    vals = []
    for op in ops:
        sub = df.filter(pl.col("op") == op)
        kk = int(sub["n"].min()) if k is None else k
        vals.append(float(pass_at_k_array(sub["n"].to_numpy(), sub[col].to_numpy(), kk).mean()))
    return ops, vals


def passk_curves(
    evals: Mapping[str, pl.DataFrame], ranges: Mapping[str, Sequence[int]], title: str, path: str | Path
) -> None:
    """Fig. 3: pass@k vs k, one panel per op range, one line per model."""
    fig, axes = plt.subplots(1, len(ranges), figsize=(4.2 * len(ranges), 3.4), squeeze=False)
    for ax, (rname, ops) in zip(axes[0], ranges.items()):
        for name, df in evals.items():
            ks, vals = passk_by_k(df, ops)
            if ks:
                ax.plot(ks, [100 * v for v in vals], marker="o", ms=3, label=name)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{rname} (op {min(ops)}-{max(ops)})")
        ax.set_xlabel("k")
        ax.set_ylabel("strict pass@k (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    _save(fig, path)


def per_op_lines(
    evals: Mapping[str, pl.DataFrame], k: int | None, title: str, path: str | Path, ylabel: str | None = None
) -> None:
    """Fig. 4-style: pass@k per op, one line per model (k=None: k = n)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, df in evals.items():
        ops, vals = passk_per_op(df, k)
        ax.plot(ops, [100 * v for v in vals], marker="o", ms=3, label=name)
    ax.set_xlabel("op")
    ax.set_ylabel(ylabel or f"strict pass@{k or 'n'} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title)
    _save(fig, path)


def ladder(df: pl.DataFrame, ops_groups: Mapping[str, Sequence[int]], path: str | Path) -> None:
    """Fig. 9: strict pass@1 and pass@n vs pre-training step, one line per op group ("op N" groups are
    single ops, drawn thin; others are ranges, drawn thick and dashed)."""
    steps = sorted(set(df["step"].to_list()))
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 3.8))
    for ax, which in zip(axes, ("1", "n")):
        for gname, ops in ops_groups.items():
            ys = []
            for s in steps:
                sub = df.filter((pl.col("step") == s) & pl.col("op").is_in(list(ops)))
                if sub.height == 0:
                    ys.append(np.nan)
                    continue
                k = 1 if which == "1" else int(sub["n"].min())
                ys.append(
                    100 * float(pass_at_k_array(sub["n"].to_numpy(), sub["c_strict"].to_numpy(), k).mean())
                )
            is_range = not gname.startswith("op ")  # a range: thick dashed; one op: thin solid
            ax.plot(
                steps,
                ys,
                marker="o",
                ms=3,
                label=gname,
                lw=2.2 if is_range else 1.1,
                ls="--" if is_range else "-",
            )
        ax.set_xlabel("pre-training step")
        ax.set_ylabel(f"strict pass@{which} (%)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("Performance ladder during pre-training")
    _save(fig, path)


def reward_curves(runs: Mapping[str, Path], path: str | Path, metric: str = "reward/mean") -> None:
    """Fig. 11: mean reward per GRPO step, one line per run (from dvclive TSVs)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, live_dir in runs.items():
        tsv = Path(live_dir) / "plots" / "metrics" / f"{metric}.tsv"
        if not tsv.exists():
            continue
        t = pl.read_csv(tsv, separator="\t")
        ax.plot(t["step"], t[t.columns[-1]], label=name)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    _save(fig, path)


def grouped_bars(
    table: Mapping[str, Mapping[str, float]],
    title: str,
    ylabel: str,
    path: str | Path,
    errors: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
) -> None:
    """Bars: groups on x (outer keys of each series), one bar per series (outer mapping)."""
    series = list(table)
    groups = list(next(iter(table.values())))
    x = np.arange(len(groups))
    w = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(groups) * max(1, len(series)) / 3, 3.6))
    for i, s in enumerate(series):
        vals = [100 * table[s][g] for g in groups]
        err = None
        if errors and s in errors:
            lo = [100 * (table[s][g] - errors[s][g][0]) for g in groups]
            hi = [100 * (errors[s][g][1] - table[s][g]) for g in groups]
            err = [np.maximum(lo, 0), np.maximum(hi, 0)]
        ax.bar(x + i * w - 0.4 + w / 2, vals, w, yerr=err, capsize=2, label=s)
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def stacked_categories(shares: Mapping[str, Mapping[str, float]], title: str, path: str | Path) -> None:
    """Fig. 8: outcome categories (correct / dependency / missing / other) per model, stacked."""
    names = list(shares)
    cats = list(next(iter(shares.values())))
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(names), 3.6))
    bottom = np.zeros(len(names))
    for c in cats:
        vals = np.array([100 * shares[n][c] for n in names])
        ax.bar(names, vals, bottom=bottom, label=c)
        bottom += vals
    ax.set_ylabel("share of samples (%)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", rotation=20)
    _save(fig, path)
