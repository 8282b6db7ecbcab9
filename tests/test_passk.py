"""pass@k estimator against exact combinatorics; bootstrap intervals; bad k."""

from math import comb

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interplay.passk import bootstrap_ci, ks_for, pass_at_k, pass_at_k_array


@given(n=st.integers(1, 200), data=st.data())
def test_matches_exact_binomial_formula(n, data):
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    exact = 1.0 - comb(n - c, k) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_edges_and_monotone():
    assert pass_at_k(128, 0, 128) == 0.0
    assert pass_at_k(128, 1, 128) == 1.0
    assert pass_at_k(128, 1, 1) == pytest.approx(1 / 128)
    vals = [pass_at_k(64, 3, k) for k in ks_for(64)]
    assert vals == sorted(vals)
    assert ks_for(64) == [1, 2, 4, 8, 16, 32, 64] and ks_for(6) == [1, 2, 4, 6]


def test_k_above_n_is_an_error():
    with pytest.raises(ValueError, match="k=5 exceeds"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="exceeds the number of samples"):
        pass_at_k_array(np.array([4, 8]), np.array([1, 1]), 6)


def test_bootstrap_interval_covers_the_mean():
    v = np.random.default_rng(0).random(200)
    lo, hi = bootstrap_ci(v)
    assert lo < v.mean() < hi and hi - lo < 0.2
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)


def test_an_op_range_with_no_problem_gives_nans_not_an_error():
    """An evaluation limited to some ops (``evaluate.runs.<name>.ops``) has no rows at the others:
    pass@1 and pass@n there are NaN (shown as "—"), for one seed and for several."""
    import polars as pl

    from interplay.passk import SEED_COL, estimate, matrix, per_problem

    df = pl.DataFrame({"id": ["a", "b"], "op": [2, 3], "n": [8, 8], "c_strict": [3, 0]})
    for k in (1, "n"):
        assert per_problem(df, [9, 10], k).height == 0
        assert all(x != x for x in estimate(df, [9, 10], k))
        two = pl.concat([df.with_columns(pl.lit(s).alias(SEED_COL)) for s in ("s0", "s1")])
        assert matrix(two, [9], k)[1].shape == (2, 0) and all(x != x for x in estimate(two, [9], k))
        assert estimate(df, [2, 3], k)[0] == estimate(df, [2, 3, 9], k)[0]  # absent ops change nothing
