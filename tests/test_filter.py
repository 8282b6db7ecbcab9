"""The RL prompt filter: which prompts stay, the stage end to end, its params checks, its ledger charge."""

import runpy
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

import tiny
from interplay import data, jobs, rl
from interplay import evaluate as E
from interplay import model as M
from interplay import prompt_filter as PF
from interplay import tokenizer as T
from interplay.params import ParamsError
from interplay.sampling import Samples
from interplay.task.spec import TaskSpec

ROOT = Path(__file__).resolve().parents[1]
K = 4


def _params(keep: str = "mixed", threads: int = 1) -> dict:
    return {
        "task": {"master_seed": 5},
        "datasets": {
            "pool": {"split": "rl", "size": {"problems": 15}, "ops": "2-4"},
            "ev": {"split": "eval", "size": {"problems": 6}, "ops": "2-4"},
        },
        "pretrain": {"base": {"dataset": "pool"}},
        "filter": {
            "defaults": {"samples": K, "keep": keep, "threads": threads, "max_new_tokens": 12},
            "runs": {"pool_f": {"dataset": "pool", "model": "base"}},
        },
    }


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A scratch project: an RL pool, an evaluation set, a tokenizer and a tiny model at data/models/base."""
    d = tmp_path_factory.mktemp("filter")
    task = TaskSpec(master_seed=5)
    for name, entry in _params()["datasets"].items():
        spec = data.dataset_spec(name, entry)
        data.write(d / f"data/datasets/{name}.parquet", data.generate(task, spec), spec, task)
    pool = pl.read_parquet(d / "data/datasets/pool.parquet")
    tok = T.train(pool["text"].to_list())
    T.save(tok, d / "tok.json")
    M.save(tiny.model(tok.get_vocab_size()), d / "data/models/base", d / "tok.json")
    return d, pool, tok


def _run_stage(d: Path, params: dict, monkeypatch, generate=None) -> tuple[pl.DataFrame, dict]:
    (d / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(d)
    if generate is not None:
        monkeypatch.setattr(E, "generate_iter", lambda *a, **kw: enumerate(generate(*a, **kw)))
    runpy.run_path(str(ROOT / "stages/filter.py"), run_name="filter_stage")["main"]("pool_f")
    return pl.read_parquet(d / "data/datasets/pool_f.parquet"), yaml.safe_load(
        (d / "reports/filter/pool_f.json").read_text()
    )


def test_stage_keeps_the_prompts_solved_sometimes(scratch, monkeypatch):
    d, pool, tok = scratch
    gold = [tok.encode(" " + t.split("<solution>", 1)[1]).ids for t in pool["text"]]
    wrong = tok.encode(" nonsense").ids
    solved = [i % (K + 1) for i in range(pool.height)]  # 0, 1, ..., K correct samples, in turn
    by_prompt = {tuple(p): i for i, p in enumerate(e.ids for e in tok.encode_batch(pool["prompt"].to_list()))}

    def fake_generate(model, prompts, n, **kw):
        time.sleep(0.2)  # the report's sampling seconds count it
        out = []
        for p in prompts:
            i = by_prompt[tuple(p)]
            out.append(Samples([gold[i]] * solved[i] + [wrong] * (n - solved[i]), [False] * n))
        return out

    kept, report = _run_stage(d, _params(), monkeypatch, fake_generate)
    assert report["seconds"] >= 0.2
    want = [i for i in range(pool.height) if 0 < solved[i] < K]
    assert kept["uid"].to_list() == [pool["uid"][i] for i in want]  # the mixed prompts, in pool order
    assert kept["filter_correct"].to_list() == [solved[i] for i in want]
    assert kept.drop("filter_correct").equals(pool[want])  # the rows themselves, untouched
    assert report["prompts"] == pool.height and report["kept"] == report["mixed"] == len(want)
    per_op = report["per_op"]
    assert sum(v["prompts"] for v in per_op.values()) == pool.height
    assert sum(v["all_fail"] for v in per_op.values()) == solved.count(0)
    assert sum(v["all_pass"] for v in per_op.values()) == solved.count(K)
    # compute: every sample's prompt and completion, a forward pass each (1/3 of a training token)
    prompt_tokens = sum(len(p) for p in by_prompt)
    gen = sum(solved[i] * len(gold[i]) + (K - solved[i]) * len(wrong) for i in range(pool.height))
    assert report["sampled_tokens"] == prompt_tokens * K + gen
    assert report["token_equivalent"] == pytest.approx((prompt_tokens * K + gen) / 3)
    # never a problem of the evaluation set
    ev = pl.read_parquet(d / "data/datasets/ev.parquet")
    assert not set(kept["uid"]) & set(ev["uid"]) and not set(kept["qid"]) & set(ev["qid"])

    kept_all, report_all = _run_stage(d, _params(keep="all"), monkeypatch, fake_generate)
    assert kept_all.height == pool.height and report_all["mixed"] == len(want)
    assert kept_all["filter_correct"].to_list() == solved


def test_stage_output_is_the_same_bytes_at_any_thread_count(scratch, monkeypatch):
    d, pool, _ = scratch
    out = d / "data/datasets/pool_f.parquet"
    _run_stage(d, _params(keep="all", threads=1), monkeypatch)
    one = out.read_bytes()
    _run_stage(d, _params(keep="all", threads=2), monkeypatch)
    assert out.read_bytes() == one
    monkeypatch.setattr(PF, "READ_ROWS", 4)  # the pool sampled 4 prompts at a time: the same file
    _, report = _run_stage(d, _params(keep="all", threads=1), monkeypatch)
    assert out.read_bytes() == one and report["prompts"] == pool.height
    assert pl.read_parquet(out).height == pool.height


def test_keep_rule():
    c = pl.Series([0, 1, 3, 4, 2])
    assert PF.keep_mask(c, 4, "mixed").to_list() == [False, True, True, False, True]
    assert PF.keep_mask(c, 4, "all").to_list() == [True] * 5


def test_params_errors_name_the_key():
    p = _params()
    assert jobs.prompt_filter(p, "pool_f").cfg == PF.FilterConfig(
        dataset="pool", model="base", samples=K, keep="mixed", threads=1, max_new_tokens=12
    )
    cases = [
        (("filter", "defaults", "keep"), "sometimes", r"filter\.defaults\.keep: "),
        (("filter", "defaults", "samples"), 1, r"filter\.defaults\.samples: must be >= 2"),
        (("filter", "runs", "pool_f", "temperature"), 0.0, r"filter\.runs\.pool_f\.temperature: must be > 0"),
        (("filter", "runs", "pool_f", "dataset"), "ev", r"filter\.runs\.pool_f\.dataset: .*evaluation set"),
        (("filter", "runs", "pool_f", "dataset"), "nope", r"filter\.runs\.pool_f\.dataset: 'nope' is not"),
        (("filter", "runs", "pool_f", "model"), "nobody", r"filter\.runs\.pool_f\.model: unknown run"),
        (("filter", "runs", "pool_f", "colour"), 1, r"filter\.runs\.pool_f\.colour: unknown key"),
    ]
    for path, value, msg in cases:
        q = yaml.safe_load(yaml.safe_dump(p))
        node = q
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        with pytest.raises(ParamsError, match=msg):
            jobs.prompt_filter(q, "pool_f")
    q = _params()
    q["filter"]["runs"]["pool"] = {"dataset": "pool", "model": "base"}
    with pytest.raises(ParamsError, match=r"filter\.runs\.pool: 'pool' is also a dataset"):
        jobs.prompt_filter(q, "pool")


def test_rl_runs_may_train_on_a_filtered_pool_and_charge_it():
    p = _params()
    p["rl"] = {"runs": {"r": {"dataset": "pool_f", "init": "base"}}}
    assert jobs.rl(p, "runs", "r").cfg.dataset == "pool_f"
    # a compute-matched arm pays for its filter: 10 steps' worth of budget, 2.4 of them spent filtering
    assert rl.budget_steps(1000.0, 1.0, 100.0, 0.0, "k") == 10
    assert rl.budget_steps(1000.0, 1.0, 100.0, 240.0, "k") == 8  # 7.6 -> nearest
    with pytest.raises(ParamsError, match=r"k: .*after the prompt filter's 960 buys 0\.40 RL steps"):
        rl.budget_steps(1000.0, 1.0, 100.0, 960.0, "k")


def test_the_default_params_filter_where_the_design_says():
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    filtered = set(p["filter"]["runs"])
    runs = p["rl"]["runs"] | p["rl"]["calibrated"]
    for name in ("rl_id", "rl_mixed", "rl_edge", "rl_hard"):  # finding 1's ranges: unfiltered
        assert runs[name]["dataset"] not in filtered, name
    for name in ("rl_edge_f_outcome", "rl_edge_p55", "rl_edge_p28", "rl_edge_strict", "rl_calibrated"):
        assert runs[name]["dataset"] in filtered, name
    for name, entry in runs.items():  # each filter samples the model its RL run starts from
        if entry["dataset"] in filtered:
            assert p["filter"]["runs"][entry["dataset"]]["model"] == entry["init"], name
    assert not jobs.check(p), "default params"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
