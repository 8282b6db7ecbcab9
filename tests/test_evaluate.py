"""Evaluation: scoring path end to end, metrics, problem selection, stage errors."""

import numpy as np
import polars as pl
import pytest
import torch

import stagerun
import tiny
from interplay import data
from interplay import evaluate as E
from interplay import tokenizer as T
from interplay.params import ParamsError
from interplay.sampling import Samples
from interplay.task.spec import TaskSpec


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("ev")
    task = TaskSpec(master_seed=3)
    spec = data.dataset_spec(
        "eval", {"split": "eval", "size": {"problems": 12}, "ops": "2-5", "modes": ["forward", "reverse"]}
    )
    data.write(d / "eval.parquet", data.generate(task, spec), spec, task)
    df = pl.read_parquet(d / "eval.parquet")
    tok = T.train(df["text"].to_list())
    return d, df, tok


def test_gold_completions_score_perfectly(setup, monkeypatch):
    _, df, tok = setup
    gold = [tok.encode(" " + t.split("<solution> ", 1)[1]).ids for t in df["text"]]

    def fake_generate(model, prompts, n, **kw):
        return [Samples([g] * n, [False] * n) for g in gold]

    monkeypatch.setattr(E, "generate_iter", lambda *a, **kw: enumerate(fake_generate(*a, **kw)))
    out = E.run(None, tok, df, E.EvalConfig(samples=3), torch.device("cpu"), progress=False)
    assert (out["c_strict"] == 3).all() and (out["c_answer"] == 3).all()
    assert (out["cat_correct"] == 3).all() and (out["process_acc"] == 1.0).all()
    # the first two completions are kept as text: here the gold traces themselves
    for kept, t in zip(out["completions"].to_list(), df["text"]):
        assert len(kept) == E.KEEP_COMPLETIONS and kept[0].strip() == t.split("<solution> ", 1)[1].strip()


def test_random_model_rows_are_consistent(setup):
    _, df, tok = setup
    m = tiny.model(tok.get_vocab_size())
    out = E.run(
        m, tok, df.head(4), E.EvalConfig(samples=4, max_new_tokens=16), torch.device("cpu"), progress=False
    )
    cats = out.select(pl.sum_horizontal(pl.col("^cat_.*$"))).to_series()
    assert (cats == 4).all() and (out["c_strict"] <= out["c_answer"] + 4).all()
    assert out.height == 4 and (out["n_truncated"] <= 4).all()


def test_metrics_from_counts():
    df = pl.DataFrame(
        {
            "op": [2, 2, 3, 9],
            "context": ["zoo"] * 4,
            "n": [4, 4, 4, 4],
            "c_strict": [4, 0, 2, 0],
            "c_answer": [4, 2, 2, 1],
            "mean_len": [10.0] * 4,
            "n_truncated": [0, 0, 0, 1],
        }
    )
    m = E.metrics(df, {"id": [2, 3], "hard": [9]})
    assert m["strict"]["id"]["pass@1"] == pytest.approx((1 + 0 + 0.5) / 3, abs=1e-4)
    assert m["strict"]["id"]["pass@4"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["strict"]["hard"]["pass@4"] == 0.0
    assert set(m["strict"]["id"]) == {"pass@1", "pass@1_ci", "pass@4", "pass@4_ci"}  # the headline only
    assert E.per_op(df)["3"] == {"pass@1": 0.5, "pass@4": 1.0}
    lo, hi = m["strict"]["id"]["pass@1_ci"]
    assert lo <= m["strict"]["id"]["pass@1"] <= hi
    tables = E.curves(df, {"id": [2, 3], "hard": [9]})
    assert [r["k"] for r in tables["passk"]] == [1, 2, 4]  # one row per k, one column per range
    assert tables["passk"][-1] == {"k": 4, "id": pytest.approx(2 / 3, abs=1e-4), "hard": 0.0}
    assert tables["passk_answer"][-1]["hard"] == 1.0
    assert tables["passk_op"][0] == {"k": 1, "op 2": 0.5, "op 3": 0.5, "op 9": 0.0}


def test_metrics_and_findings_quote_the_same_interval():
    """Whatever order the evaluation rows come in, metrics and findings resample the same problems
    with the same seed and replicates: one quantity, one interval."""
    from interplay import findings

    rng = np.random.default_rng(1)
    df = pl.DataFrame(
        {
            "id": [f"p{i:03d}" for i in range(60)],
            "op": [2 + i % 3 for i in range(60)],
            "n": [8] * 60,
            "c_strict": rng.integers(0, 9, 60).tolist(),
            "c_answer": [8] * 60,
            "mean_len": [10.0] * 60,
            "n_truncated": [0] * 60,
        }
    )
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=7)
    m = E.metrics(shuffled, {"id": [2, 3, 4]})
    mean, lo, hi = findings.value(df, [2, 3, 4], 1)
    assert m["strict"]["id"]["pass@1"] == pytest.approx(mean, abs=1e-5)
    assert m["strict"]["id"]["pass@1_ci"] == [round(lo, 5), round(hi, 5)]
    _, lo8, hi8 = findings.value(df, [2, 3, 4], 8)
    assert m["strict"]["id"]["pass@8_ci"] == [round(lo8, 5), round(hi8, 5)]


def test_select_problems_per_op(setup):
    _, df, _ = setup
    sel = E.select_problems(df, 2)
    assert sel.group_by("op").len()["len"].to_list() == [2] * sel["op"].n_unique()
    with pytest.raises(ValueError, match="empty"):
        E.select_problems(df.head(0), 2)


def test_select_problems_at_some_ops_keeps_the_full_selection_s_rows(setup):
    _, df, _ = setup
    ops = sorted(set(df["op"].to_list()))
    assert len(ops) >= 2
    full = E.select_problems(df, 2)
    cut = E.select_problems(df, 2, str(ops[-1]))
    assert set(cut["op"].to_list()) == {ops[-1]}
    assert cut["uid"].to_list() == full.filter(pl.col("op") == ops[-1])["uid"].to_list()
    with pytest.raises(ValueError, match="no problem at ops 30"):
        E.select_problems(df, 2, "30")


def test_evaluation_ops_are_checked_before_any_compute(tmp_path):
    with pytest.raises(ParamsError, match=r"evaluate\.runs\.x\.ops"):
        E.config_from_params({"ops": "9-2"}, "evaluate.runs.x")
    assert E.config_from_params({"ops": 7}, "evaluate.runs.x").ops == "7"
    base = {
        "datasets": {
            "pre": {"split": "pre", "size": {"problems": 1}, "ops": "2"},
            "ev": {"split": "eval", "size": {"problems": 3}, "ops": "2-4"},
        },
        "pretrain": {"base": {"dataset": "pre"}},
        "evaluate": {
            "ranges": {"id": "2-4"},
            "runs": {"x": {"model": "base", "dataset": "ev", "ops": "3-6"}},
        },
    }
    r = _stage(tmp_path, base, "x")
    assert r.returncode == 2 and "evaluate.runs.x.ops: dataset 'ev' has no problems at op [5, 6]" in r.stderr


def test_ranges_must_be_disjoint():
    with pytest.raises(ParamsError, match=r"evaluate\.ranges\.edge: op 10 is also in range 'id'"):
        E.parse_ranges({"id": "2-10", "edge": "10-14"})


def _stage(tmp_path, params, name):
    return stagerun.run(tmp_path, params, "evaluate", name)


def test_stage_refuses_training_data_and_unknown_models(tmp_path):
    base = {
        "datasets": {
            "pre": {"split": "pre", "size": {"problems": 1}, "ops": "2"},
            "ev": {"split": "eval", "size": {"problems": 1}, "ops": "2"},
        },
        "pretrain": {"base": {"dataset": "pre"}},
        "evaluate": {"ranges": {"id": "2-4"}, "runs": {"x": {"model": "base", "dataset": "pre"}}},
    }
    r = _stage(tmp_path, base, "x")
    assert (
        r.returncode == 2 and "evaluate.runs.x.dataset: dataset 'pre' has split 'pre', not eval" in r.stderr
    )
    base["evaluate"]["runs"]["x"] = {"model": "nobody", "dataset": "ev"}
    r = _stage(tmp_path, base, "x")
    assert r.returncode == 2 and "evaluate.runs.x.model: unknown run 'nobody'" in r.stderr
    base["evaluate"]["runs"]["x"] = {"model": "base", "dataset": "ev"}
    r = _stage(tmp_path, base, "x")
    assert r.returncode == 2 and "evaluation set missing" in r.stderr
    assert not (tmp_path / "reports").exists()


def test_unbiased_estimator_used_on_counts():
    df = pl.DataFrame(
        {
            "op": [2],
            "context": ["zoo"],
            "n": [8],
            "c_strict": [1],
            "c_answer": [1],
            "mean_len": [1.0],
            "n_truncated": [0],
        }
    )
    rows = {r["k"]: r["id"] for r in E.curves(df, {"id": [2]})["passk"]}
    assert rows[2] == pytest.approx(1 - 7 / 8 * 6 / 7, abs=1e-5)
    assert np.isclose(E.metrics(df, {"id": [2]})["strict"]["id"]["pass@8"], 1.0)


def test_calibrate_picks_the_edge():
    from interplay.calibrate import edge_range

    df = pl.DataFrame({"op": [2, 3, 4, 5], "n": [8] * 4, "c_strict": [8, 3, 1, 0]})
    out = edge_range(df)
    assert out["ops"] == "3-4" and out["edge_ops"] == [3, 4]
    with pytest.raises(ValueError, match="no edge of competence"):
        edge_range(df.filter(pl.col("op") != 3).filter(pl.col("op") != 4))
