"""Edge-of-competence selection (beyond the paper): pick the RL op range from a base model's evaluation.

The paper's guidance: train RL on problems the model fails at pass@1 but solves at pass@k. We take
every op whose strict pass@1 <= ``max_pass1`` and pass@n >= ``min_passn`` and return the smallest
contiguous range covering them.
"""

from __future__ import annotations

import polars as pl

from interplay.passk import pass_at_k_array


def per_op(df: pl.DataFrame) -> dict[int, tuple[float, float]]:
    n = int(df["n"].min())
    out = {}
    for op in sorted(set(df["op"].to_list())):
        sub = df.filter(pl.col("op") == op)
        c, ns = sub["c_strict"].to_numpy(), sub["n"].to_numpy()
        out[op] = (float(pass_at_k_array(ns, c, 1).mean()), float(pass_at_k_array(ns, c, n).mean()))
    return out


def edge_range(df: pl.DataFrame, max_pass1: float = 0.5, min_passn: float = 0.05) -> dict:
    table = per_op(df)
    edge = [op for op, (p1, pn) in table.items() if p1 <= max_pass1 and pn >= min_passn]
    if not edge:
        raise ValueError(
            f"no op has strict pass@1 <= {max_pass1} and pass@n >= {min_passn}: the model has no edge of "
            f"competence in this evaluation (per-op pass@1/pass@n: {table})"
        )
    return {
        "ops": f"{min(edge)}-{max(edge)}",
        "edge_ops": edge,
        "per_op": {str(op): {"pass@1": p1, "pass@n": pn} for op, (p1, pn) in table.items()},
        "max_pass1": max_pass1,
        "min_passn": min_passn,
    }
