"""The lever table: changed params, per-op cells, paired vs unpaired differences."""

import numpy as np
import polars as pl
import pytest

from interplay import levers
from interplay.passk import pass_at_k


def _eval(counts: dict[int, list[int]], n: int = 8, tag: str = "") -> pl.DataFrame:
    rows = []
    for op, cs in counts.items():
        for i, c in enumerate(cs):
            rows.append({"id": f"op{op}-{i}", "uid": f"{tag}{op}-{i}", "op": op, "n": n, "c_strict": c})
    return pl.DataFrame(rows)


def test_changed_ignores_runtime_keys_and_finds_nested_changes():
    control = {"model": {"d_model": 128, "tie": False}, "train_defaults": {"threads": 2, "lr": 1e-3}}
    variant = {"model": {"d_model": 192, "tie": False}, "train_defaults": {"threads": 1, "lr": 1e-3}}
    assert levers.changed(variant, control) == {"model.d_model": 192}
    assert levers.changed(control, control) == {}
    assert levers.changed({"a": {"new": 1}}, {"a": {}}) == {"a.new": 1}


def test_cell_is_the_mean_pass_at_k_with_an_interval_around_it():
    df = _eval({2: [0, 1, 4, 8], 3: [0, 0]})
    m, lo, hi = levers.cell(df, [2], 2)
    want = np.mean([pass_at_k(8, c, 2) for c in (0, 1, 4, 8)])
    assert m == pytest.approx(want)
    assert lo <= m <= hi
    assert levers.cell(df, [3], 1)[0] == 0.0
    with pytest.raises(ValueError, match="k=16"):
        levers.cell(df, [2], 16)


def test_diff_pairs_only_identical_problems():
    a = _eval({2: [8] * 30})
    b = _eval({2: [0] * 30})
    same = levers.diff(a, b, [2], 1)
    assert same.paired and same.mean == pytest.approx(1.0) and same.lo == pytest.approx(1.0)
    other = levers.diff(a, _eval({2: [0] * 30}, tag="x"), [2], 1)  # same ids, different content
    assert not other.paired and other.mean == pytest.approx(1.0)


def test_diff_pairs_a_format_lever_on_the_problem_hash():
    a = _eval({2: [8] * 30}, tag="plan").with_columns(pl.col("id").alias("qid"))
    b = _eval({2: [0] * 30}).with_columns(pl.col("id").alias("qid"))
    d = levers.diff(a, b, [2], 1)  # different gold traces (uid), same problems (qid)
    assert d.paired and d.lo == pytest.approx(1.0)
    other = b.with_columns(pl.concat_str(pl.lit("other"), pl.col("qid")).alias("qid"))
    assert not levers.diff(a, other, [2], 1).paired


def test_verdict_follows_the_interval():
    assert levers.verdict(levers.Diff(0.05, 0.01, 0.09, True)) == "helps"
    assert levers.verdict(levers.Diff(-0.05, -0.09, -0.01, True)) == "hurts"
    assert levers.verdict(levers.Diff(0.05, -0.01, 0.09, True)) == "unclear"
    assert levers.verdict(levers.Diff(0.0, float("nan"), float("nan"), False)) == "unclear"


def test_unpaired_interval_covers_the_true_difference_and_excludes_zero_when_large():
    rng = np.random.default_rng(0)
    a, b = rng.binomial(1, 0.7, 400).astype(float), rng.binomial(1, 0.3, 300).astype(float)
    lo, hi = levers.unpaired_diff_ci(a, b)
    assert 0 < lo < 0.4 < hi
    lo, hi = levers.unpaired_diff_ci(a, a[::-1].copy())
    assert lo < 0 < hi


def test_tables_name_every_variant_and_reject_an_unknown_control():
    evals = {"ctl": _eval({2: [1, 2, 3], 3: [0, 0, 1]}), "lever": _eval({2: [8, 8, 8], 3: [1, 1, 1]})}
    changes = {"ctl": {}, "lever": {"model.d_model": 192}}
    md, data = levers.tables(evals, changes, "ctl", [2, 3], {"ID": [2, 3]}, ks=(1, 8))
    assert data["variants"]["lever"]["verdict"] == "helps" and "| helps |" in md
    assert "| lever | `model.d_model=192` |" in md
    assert (
        levers.fmt_change({"m.tie": True, "t.mod": None, "t.r": [1, 4]})
        == "`m.tie=true`, `t.mod=null`, `t.r=[1, 4]`"
    )
    assert md.count("| ctl |") == 2  # one row per k; not in the difference table
    d = data["variants"]["lever"]["diff"]["ID/pass@1"]
    assert d[0] > 0 and d[3] is True
    with pytest.raises(KeyError, match="nope"):
        levers.tables(evals, changes, "nope", [2], {"ID": [2]})
