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


def _problems(df: pl.DataFrame, ops: Sequence[int]) -> int:
    return df.filter(pl.col("op").is_in(list(ops))).height


def passk_curves(
    evals: Mapping[str, pl.DataFrame], ranges: Mapping[str, Sequence[int]], title: str, path: str | Path
) -> list[str]:
    """Fig. 3: pass@k vs k, one panel per op range, one line per model with its 95% bootstrap band
    (over problems). A range where every model scores 0 at every k gets no panel; the title says so."""
    drawn, empty = {}, []
    for rname, ops in ranges.items():
        curves = {name: passk_band(df, ops) for name, df in evals.items()}
        if any(max(c[1], default=0.0) > 0 for c in curves.values()):
            drawn[rname] = (ops, curves)
        else:
            empty.append(f"{rname} (op {min(ops)}-{max(ops)})")
    fig, axes = plt.subplots(1, max(1, len(drawn)), figsize=(4.4 * max(1, len(drawn)), 3.6), squeeze=False)
    n = min(int(df["n"].min()) for df in evals.values())
    for ax, (rname, (ops, curves)) in zip(axes[0], drawn.items()):
        for name, (ks, vals, lo, hi) in curves.items():
            if ks:
                line = ax.plot(ks, [100 * v for v in vals], marker="o", ms=3, label=name)[0]
                ax.fill_between(
                    ks, [100 * v for v in lo], [100 * v for v in hi], color=line.get_color(), alpha=0.12
                )
        problems = _problems(next(iter(evals.values())), ops)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{rname}: op {min(ops)}-{max(ops)}, {problems} problems", fontsize=10)
        ax.set_xlabel(f"k (of n = {n} samples per problem)")
        ax.set_ylabel("strict pass@k (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    note = f"; 0 for every model: {', '.join(empty)}" if empty else ""
    fig.suptitle(f"{title} (bands: 95% bootstrap over problems{note})", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return empty


def passk_band(
    df: pl.DataFrame, ops: Sequence[int], col: str = "c_strict"
) -> tuple[list[int], list[float], list[float], list[float]]:
    """k, mean pass@k over the problems with op in ``ops`` (and a run's seeds) and its interval per k:
    ``passk.estimate``, the numbers the tables quote."""
    from interplay.passk import estimate

    sub = df.filter(pl.col("op").is_in(list(ops)))
    if sub.height == 0:
        return [], [], [], []
    ks = ks_for(int(sub["n"].min()))
    vals, lo, hi = zip(*(estimate(sub, ops, k, col) for k in ks))
    return ks, list(vals), list(lo), list(hi)


def per_op_lines(
    evals: Mapping[str, pl.DataFrame], k: int | None, title: str, path: str | Path, ylabel: str | None = None
) -> None:
    """Fig. 4-style: pass@k per op, one line per model (k=None: k = n)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    n = min(int(df["n"].min()) for df in evals.values())
    for name, df in evals.items():
        ops, vals = passk_per_op(df, k)
        ax.plot(ops, [100 * v for v in vals], marker="o", ms=3, label=name)
    per_op = next(iter(evals.values())).group_by("op").len()["len"].max()
    ax.set_xlabel(f"op ({per_op} problems per op, n = {n} samples each)")
    ax.set_ylabel(ylabel or f"strict pass@{k or n} (%)")
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


LABELS = {  # axis labels for dvclive keys
    "reward/mean": "mean reward per rollout",
    "reward/verified": "share of rollouts verified correct",
    "reward/answer_acc": "share of rollouts with the right answer",
}


def reward_curves(
    runs: Mapping[str, Path | Sequence[Path]], path: str | Path, metric: str = "reward/mean"
) -> None:
    """Fig. 11: mean reward per GRPO step, one line per run (from dvclive TSVs); a run with several
    training seeds is drawn as their mean at each step."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, live_dirs in runs.items():
        dirs = [live_dirs] if isinstance(live_dirs, (str, Path)) else list(live_dirs)
        tsvs = [Path(d) / "plots" / "metrics" / f"{metric}.tsv" for d in dirs]
        tables = [pl.read_csv(t, separator="\t") for t in tsvs if t.exists()]
        if not tables:
            continue
        t = pl.concat([x.select("step", pl.col(x.columns[-1]).alias("v")) for x in tables])
        t = t.group_by("step").agg(pl.col("v").mean()).sort("step")
        label = name if len(tables) == 1 else f"{name} (mean of {len(tables)} seeds)"
        ax.plot(t["step"], t["v"], label=label)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(LABELS.get(metric, metric))
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
) -> list[str]:
    """Bars: groups on x (outer keys of each series), one bar per series (outer mapping). A group in
    which every series is 0 gets no bars; the title names it."""
    series = list(table)
    groups = [g for g in next(iter(table.values())) if any(table[s][g] > 0 for s in series)]
    empty = [g for g in next(iter(table.values())) if g not in groups]
    if empty:
        title = f"{title}\n(0 for every run: {', '.join(empty)})"
    if not groups:
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
    return empty


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
