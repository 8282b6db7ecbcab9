"""A lever table: evaluations of `dvc exp` variants against a control, per op, with intervals.

Each variant is one evaluation (``reports/eval/<run>.parquet`` of an experiment) and the params it
ran with. A cell is strict pass@k over the problems of one op with a bootstrap 95% interval over
problems; a variant's difference to the control over a group of ops is a paired bootstrap when
both evaluated the same problems (same content hashes ``uid``) and an unpaired one otherwise (a task
lever such as the distractor density changes the problems themselves).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from interplay.findings import ci, per_problem
from interplay.passk import REPS, SEED, bootstrap_ci, bootstrap_diff_ci

IGNORED = ("threads", "workers", "device")  # runtime settings: not levers
_KEYS = ("id", "uid")  # uid (content hash) decides whether two evaluations can be paired


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def changed(params: Mapping[str, Any], control: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened keys whose value differs from the control's (runtime keys left out)."""
    a, b = flatten(params), flatten(control)
    keys = sorted(set(a) | set(b))
    return {k: a.get(k) for k in keys if a.get(k) != b.get(k) and k.rsplit(".", 1)[-1] not in IGNORED}


def cell(df: pl.DataFrame, ops: Sequence[int], k: int) -> tuple[float, float, float]:
    """Mean strict pass@k over the problems of ``ops`` with its bootstrap 95% interval."""
    v = per_problem(df, ops, k, keys=_KEYS)["v"].to_numpy()
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = bootstrap_ci(v)
    return float(v.mean()), lo, hi


def unpaired_diff_ci(
    a: np.ndarray, b: np.ndarray, reps: int = REPS, seed: int = SEED, level: float = 0.95
) -> tuple[float, float]:
    """Interval of mean(a) - mean(b) when a and b are different problems (each side resampled)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, a.size, size=(reps, a.size))].mean(axis=1)
    db = b[rng.integers(0, b.size, size=(reps, b.size))].mean(axis=1)
    lo, hi = np.quantile(da - db, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Diff:
    mean: float
    lo: float
    hi: float
    paired: bool


def diff(a: pl.DataFrame, b: pl.DataFrame, ops: Sequence[int], k: int) -> Diff:
    """mean(a) - mean(b) over ``ops``: paired when both evaluated exactly the same problems: the
    same content hashes ``uid`` (problem and gold trace), or the same ``qid`` (problem text alone:
    a trace-format lever such as ``task.trace`` writes other solutions to the same problems). Ids
    alone name dataset coordinates, not content."""
    keys = _KEYS + (("qid",) if "qid" in a.columns and "qid" in b.columns else ())
    pa, pb = per_problem(a, ops, k, keys=keys), per_problem(b, ops, k, keys=keys)
    va, vb = pa["v"].to_numpy(), pb["v"].to_numpy()
    same = pa.height and pa["uid"].to_list() == pb["uid"].to_list()
    if pa.height and "qid" in keys:
        same = same or pa["qid"].to_list() == pb["qid"].to_list()
    if same:
        lo, hi = bootstrap_diff_ci(va, vb)
        return Diff(float((va - vb).mean()), lo, hi, True)
    if va.size == 0 or vb.size == 0:
        return Diff(float("nan"), float("nan"), float("nan"), False)
    lo, hi = unpaired_diff_ci(va, vb)
    return Diff(float(va.mean() - vb.mean()), lo, hi, False)


# The rule that judges a lever, fixed before the competent-base runs (issue 18): a lever helps when the
# 95% interval of its ID strict pass@1 difference to the control lies above 0, hurts when it lies below
# 0, and is otherwise not measurable at the control's budget. Levers that help are combined; when fewer
# than two help, the combinations take the non-hurting levers with the largest ID pass@1 differences.
VERDICT_GROUP, VERDICT_K = "ID", 1


def verdict(d: Diff) -> str:
    """``helps`` / ``hurts`` / ``unclear`` under the rule above (NaN: ``unclear``)."""
    if d.lo > 0:
        return "helps"
    if d.hi < 0:
        return "hurts"
    return "unclear"


@dataclass(frozen=True)
class Target:
    """The competent-base target (issue 18), fixed before the runs it judges. Per op: strict pass@1
    and pass@n (n = the evaluation's samples, 128 by default)."""

    id_min_ops: int = 4  # at least this many consecutive ops with ...
    id_pass1: float = 0.6  # ... pass@1 >= this and ...
    id_passn: float = 0.95  # ... pass@n >= this
    edge_ops: tuple[int, int] = (2, 3)  # then this many ops (min, max) inside both bands:
    edge_pass1: tuple[float, float] = (0.02, 0.4)
    edge_passn: tuple[float, float] = (0.15, 0.85)
    hard_passn: float = 0.05  # and every op beyond at pass@n <= this


def ladder_shape(per_op: Mapping[int, tuple[float, float]], t: Target = Target()) -> dict[str, Any]:
    """Read a ladder against ``t``: ``per_op`` maps op -> (pass@1, pass@n). The ID range is the
    longest run of consecutive ops meeting the ID bar (earliest on ties); the edge is the ops right
    after it inside the edge bands (at most ``t.edge_ops[1]``; none without an ID range); hard is
    every op after that. Returns
    the three ranges, whether each part is met, and ``met`` for all of them."""
    ops = sorted(per_op)
    good = [o for o in ops if per_op[o][0] >= t.id_pass1 and per_op[o][1] >= t.id_passn]
    best: list[int] = []
    run: list[int] = []
    for o in ops:
        run = [*run, o] if o in good and (not run or o == run[-1] + 1) else ([o] if o in good else [])
        if len(run) > len(best):
            best = run
    after = [o for o in ops if o > best[-1]] if best else ops
    edge: list[int] = []
    for o in after if best else []:  # an edge lies just beyond an ID range; without one, none
        p1, pn = per_op[o]
        inside = t.edge_pass1[0] <= p1 <= t.edge_pass1[1] and t.edge_passn[0] <= pn <= t.edge_passn[1]
        if not inside or len(edge) == t.edge_ops[1] or (edge and o != edge[-1] + 1):
            break
        edge.append(o)
    hard = [o for o in after if not edge or o > edge[-1]]
    parts = {
        "id_met": len(best) >= t.id_min_ops,
        "edge_met": len(edge) >= t.edge_ops[0],
        "hard_met": all(per_op[o][1] <= t.hard_passn for o in hard),
    }
    return {"id": best, "edge": edge, "hard": hard, **parts, "met": all(parts.values())}


def fmt_change(ch: Mapping[str, Any]) -> str:
    """The changes as ``-S`` would spell them: `key=value` with YAML/JSON scalars (true, null, [1, 4])."""
    return (
        ", ".join(f"`{k}={v if isinstance(v, str) else json.dumps(v)}`" for k, v in ch.items()) or "(control)"
    )


def tables(
    evals: Mapping[str, pl.DataFrame],
    changes: Mapping[str, Mapping[str, Any]],
    control: str,
    ops: Sequence[int],
    groups: Mapping[str, Sequence[int]],
    ks: Sequence[int] = (1, 32, 128),
) -> tuple[str, dict[str, Any]]:
    """Markdown (one per-op table per k, then group differences vs the control) and a JSON dict."""
    if control not in evals:
        raise KeyError(f"control '{control}' is not among the evaluations: {sorted(evals)}")
    parts: list[str] = []
    data: dict[str, Any] = {"control": control, "variants": {}}
    for name in evals:
        data["variants"][name] = {"changes": dict(changes.get(name, {})), "per_op": {}, "diff": {}}
    for k in ks:
        header = ["variant"] + [f"op {o}" for o in ops]
        parts += [f"**strict pass@{k}** (%, 95% bootstrap interval over problems)", ""]
        parts += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name, df in evals.items():
            row = [name]
            for o in ops:
                m, lo, hi = cell(df, [o], k)
                row.append(ci(m, lo, hi))
                data["variants"][name]["per_op"][f"op{o}/pass@{k}"] = [m, lo, hi]
            parts.append("| " + " | ".join(row) + " |")
        parts.append("")
    header = ["variant", "change"] + [f"{g} pass@{k} - control" for g in groups for k in (ks[0], ks[-1])]
    judged = VERDICT_GROUP in groups and VERDICT_K in ks
    if judged:
        header.append(f"verdict ({VERDICT_GROUP} pass@{VERDICT_K})")
    parts += [
        "**Difference to the control** (points; paired bootstrap when the problems are the same, "
        "else unpaired, marked *)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for name, df in evals.items():
        if name == control:
            continue
        row = [name, fmt_change(changes.get(name, {}))]
        for g, g_ops in groups.items():
            for k in (ks[0], ks[-1]):
                d = diff(df, evals[control], g_ops, k)
                row.append(ci(d.mean, d.lo, d.hi) + ("" if d.paired else "*"))
                data["variants"][name]["diff"][f"{g}/pass@{k}"] = [d.mean, d.lo, d.hi, d.paired]
        if judged:
            v = verdict(diff(df, evals[control], groups[VERDICT_GROUP], VERDICT_K))
            data["variants"][name]["verdict"] = v
            row.append(v)
        parts.append("| " + " | ".join(row) + " |")
    parts.append("")
    return "\n".join(parts), data
