"""pass@k: the unbiased estimator, averages over problems, and bootstrap intervals.

pass@k = 1 - C(n-c, k) / C(n, k) per problem (n samples, c correct), computed as the stable product
1 - prod_{i=n-c+1}^{n} (1 - k/i) (Chen et al. 2021), then averaged over problems.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl


def pass_at_k(n: int, c: int, k: int) -> float:
    if k > n:
        raise ValueError(f"k={k} exceeds the number of samples n={n}")
    if c < 0 or c > n:
        raise ValueError(f"correct count c={c} outside 0..{n}")
    if n - c < k:
        return 1.0
    i = np.arange(n - c + 1, n + 1, dtype=np.float64)
    return float(1.0 - np.prod(1.0 - k / i))


def pass_at_k_array(n: np.ndarray, c: np.ndarray, k: int) -> np.ndarray:
    """Vectorised over problems (each may have its own n)."""
    n = np.asarray(n, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    if (k > n).any():
        raise ValueError(f"k={k} exceeds the number of samples (min n={int(n.min())})")
    return np.array([pass_at_k(int(a), int(b), k) for a, b in zip(n, c)], dtype=np.float64)


def ks_for(n: int) -> list[int]:
    """1, 2, 4, ... up to n (n itself included)."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    ks.append(n)
    return ks


REPS = 10_000  # bootstrap replicates of every interval this project reports
SEED = 0  # and their seed: with values in problem-id order, one quantity has one interval everywhere


def bootstrap_ci(
    values: np.ndarray, reps: int = REPS, seed: int = SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean over problems (resampled with replacement). Callers pass the
    values in problem-id order (``per_problem`` sorts), so metrics, findings and the report
    resample the same rows and quote the same interval."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(reps, v.size))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def bootstrap_diff_ci(
    a: np.ndarray, b: np.ndarray, reps: int = REPS, seed: int = SEED, level: float = 0.95
) -> tuple[float, float]:
    """Interval of mean(a) - mean(b) for paired per-problem values (same problems in a and b)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired bootstrap needs the same problems on both sides")
    return bootstrap_ci(a - b, reps, seed, level)


def hierarchical_ci(
    values: np.ndarray, reps: int = REPS, seed: int = SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of a (training seeds x problems) array, resampling seeds and,
    within each replicate, problems (both with replacement): the interval covers seed-to-seed
    variation as well as the choice of problems. With one seed it is ``bootstrap_ci`` of that row,
    so a run with one seed is quoted with the same interval everywhere."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    if v.shape[0] == 1:
        return bootstrap_ci(v[0], reps, seed, level)
    if v.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    s, p = v.shape
    means = np.empty(reps)
    for start in range(0, reps, 1000):  # in blocks: (1000 x s x p) indices at a time
        m = min(1000, reps - start)
        rows = rng.integers(0, s, size=(m, s))
        cols = rng.integers(0, p, size=(m, p))
        means[start : start + m] = v[rows[:, :, None], cols[:, None, :]].mean(axis=(1, 2))
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


# ----------------------------------------------------------------------------------------------
# from evaluation rows (``reports/eval/<name>.parquet``: one row per problem, n samples, c correct)

SEED_COL = "seed_run"  # the evaluation a row came from when a run's training seeds are stacked


def per_problem(
    df: pl.DataFrame, ops: Sequence[int], k: int | str, col: str = "c_strict", keys: Sequence[str] = ("id",)
) -> pl.DataFrame:
    """``keys`` -> pass@k for the problems with op in ``ops``, sorted by id (k = "n": all samples).
    Rows without an ``id`` column are identified by their order."""
    if "id" not in df.columns:
        df = df.with_row_index("id")
    sub = df.filter(pl.col("op").is_in(list(ops))).sort("id")
    if sub.height == 0:  # no problem at these ops (an evaluation limited to others): no values
        return sub.select(*keys).with_columns(pl.Series("v", [], dtype=pl.Float64))
    kk = int(sub["n"].min()) if k == "n" else int(k)
    return sub.select(*keys, pl.Series("v", pass_at_k_array(sub["n"].to_numpy(), sub[col].to_numpy(), kk)))


def matrix(
    df: pl.DataFrame, ops: Sequence[int], k: int | str, col: str = "c_strict"
) -> tuple[list[str], np.ndarray]:
    """pass@k as a (training seeds x problems) array over the problems every seed evaluated, in
    problem-id order, and those problem ids. Rows without ``SEED_COL`` are one seed."""
    seeds = df[SEED_COL].unique(maintain_order=True).to_list() if SEED_COL in df.columns else [None]
    parts = [per_problem(df if s is None else df.filter(pl.col(SEED_COL) == s), ops, k, col) for s in seeds]
    ids = sorted(set.intersection(*(set(p["id"].to_list()) for p in parts)))
    rows = [p.filter(pl.col("id").is_in(ids))["v"].to_numpy() for p in parts]
    return ids, np.stack(rows) if ids else np.zeros((len(parts), 0))


def estimate(
    df: pl.DataFrame, ops: Sequence[int], k: int | str, col: str = "c_strict"
) -> tuple[float, float, float]:
    """The project's one estimate of a pass@k: the mean over seeds and problems with its 95% interval
    (``hierarchical_ci``; ``bootstrap_ci`` over problems for one seed). Metrics files, findings,
    the report and the figures' bands all call this. NaNs when no problem has an op in ``ops``."""
    _, v = matrix(df, ops, k, col)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = hierarchical_ci(v)
    return float(v.mean()), lo, hi
