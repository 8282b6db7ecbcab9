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


def test_ladder_shape_reads_the_target_off_a_ladder():
    ladder = {2: (0.9, 1.0), 3: (0.8, 1.0), 4: (0.7, 0.99), 5: (0.61, 0.96), 6: (0.3, 0.8), 7: (0.03, 0.2)}
    ladder |= {8: (0.0, 0.04), 9: (0.0, 0.0)}
    got = levers.ladder_shape(ladder)
    assert got["id"] == [2, 3, 4, 5] and got["edge"] == [6, 7] and got["hard"] == [8, 9] and got["met"]
    # one weak ID op breaks the run; a hard op with some pass@n fails the hard part
    weak = {**ladder, 3: (0.5, 1.0)}
    assert levers.ladder_shape(weak)["id"] == [4, 5] and not levers.ladder_shape(weak)["met"]
    leaky = {**ladder, 9: (0.0, 0.1)}
    assert levers.ladder_shape(leaky)["hard_met"] is False
    # an edge that falls straight to 0 (no op inside the bands) is not an edge
    cliff = {**ladder, 6: (0.0, 0.01), 7: (0.0, 0.0)}
    assert levers.ladder_shape(cliff)["edge"] == [] and not levers.ladder_shape(cliff)["edge_met"]
    # at most three edge ops: a fourth in-band op counts as hard (and fails the hard bar)
    wide = {**ladder, 8: (0.03, 0.3), 9: (0.03, 0.3)}
    assert levers.ladder_shape(wide)["edge"] == [6, 7, 8] and levers.ladder_shape(wide)["hard"] == [9]
    weak_all = levers.ladder_shape({2: (0.1, 0.5), 3: (0.1, 0.5), 4: (0.0, 0.0)})
    assert weak_all["id"] == [] and weak_all["edge"] == [] and weak_all["hard"] == [2, 3, 4]
    assert not weak_all["edge_met"] and not weak_all["met"]
