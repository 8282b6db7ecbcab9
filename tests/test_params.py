"""params.yaml errors name the key the user edited, in one line, before any compute."""

import pytest

import stagerun
from interplay import evaluate as E
from interplay import params, rl
from interplay.params import ParamsError
from interplay.train import config_from_params as train_config


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("task:\n  modulus: 23\n  names: [compact\nmodel: {}\n")
    with pytest.raises(ParamsError) as err:
        params.load(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: line ") and "not valid YAML" in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("entry", "defaults", "want"),
    [
        ({"dataset": "d"}, {"lr": -1}, "train_defaults.lr: must be >= 0.0"),  # edited the defaults
        ({"dataset": "d", "lr": -1}, {"lr": 1e-3}, "pretrain.x.lr: must be >= 0.0"),  # edited the run
        ({"dataset": "d"}, {"betas": [0.9]}, "train_defaults.betas: expected"),
        ({"dataset": "d", "ladder": [2.0]}, {}, "pretrain.x.ladder[0]: must be <= 1.0"),
    ],
)
def test_train_errors_name_the_edited_key(entry, defaults, want):
    with pytest.raises(ParamsError) as err:
        train_config(entry, "pretrain.x", defaults)
    assert str(err.value).startswith(want)


def test_rl_errors_name_the_edited_key():
    with pytest.raises(ParamsError) as err:
        rl.config_from_params({"dataset": "d", "init": "i"}, "rl.runs.x", {"alpha": 2.0})
    assert str(err.value).startswith("rl.defaults.alpha: must be <= 1.0")
    with pytest.raises(ParamsError) as err:
        rl.config_from_params({"dataset": "d", "init": "i", "alpha": 2.0}, "rl.runs.x", {"alpha": 0.5})
    assert str(err.value).startswith("rl.runs.x.alpha: must be <= 1.0")


def test_blame_leaves_other_errors_alone():
    err = ParamsError("somewhere.else: bad")
    assert params.blame(err, "pretrain.x", {}, "train_defaults") is err


def _ladder_params(**ladder):
    return {
        "datasets": {"ev": {"split": "eval", "size": {"problems": 1}, "ops": "2"}},
        "pretrain": {"base": {"dataset": "ev", "ladder": [1.0]}},
        "evaluate": {"defaults": {"samples": 4}, "ranges": {"id": "2"}, "runs": {}},
        "ladder": {"runs": ["base"], "dataset": "ev", **ladder},
    }


@pytest.mark.parametrize(
    ("ladder", "defaults", "want"),
    [
        ({"samples": 0}, {"samples": 4}, "ladder.samples: must be >= 1"),
        ({"problems_per_op": 0}, {"samples": 4}, "ladder.problems_per_op: must be >= 1"),
        ({}, {"samples": 0}, "evaluate.defaults.samples: must be >= 1"),
    ],
)
def test_ladder_and_evaluate_errors_name_the_edited_key(tmp_path, ladder, defaults, want):
    p = _ladder_params(**ladder)
    p["evaluate"]["defaults"] = defaults
    r = stagerun.run(tmp_path, p, "ladder", "base")
    assert r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr


def test_evaluate_run_override_is_named():
    with pytest.raises(ParamsError) as err:
        E.config_from_params({"samples": 0}, "evaluate.runs.x")
    assert str(err.value).startswith("evaluate.runs.x.samples")


@pytest.mark.parametrize(
    ("edit", "want"),
    [
        ({"generate": None}, None),  # an empty section is the defaults, not a crash
        ({"generate": {"workers": 0}}, "generate.workers: must be >= 1"),
        ({"generate": {"worker": 2}}, "generate.worker: unknown key"),
        ({"task": None}, None),
    ],
)
def test_empty_or_bad_generate_section(tmp_path, edit, want):
    p = {"datasets": {"ev": {"split": "eval", "size": {"problems": 2}, "ops": "2"}}, **edit}
    r = stagerun.run(tmp_path, p, "generate", "ev")
    assert "Traceback" not in r.stderr
    if want is None:
        assert r.returncode == 0 and (tmp_path / "data/datasets/ev.parquet").exists()
    else:
        assert r.returncode == 2 and want in r.stderr
        assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("size", "ops", "want"),
    [
        (
            {"problems": 10**12},
            "2-14",
            "datasets.x.size.problems: 1,000,000,000,000 is more than any run needs",
        ),
        ({"tokens": 10**13}, "2-14", "datasets.x.size.tokens: 10,000,000,000,000 is more than any run needs"),
        ({"problems": 1}, "2-14", "datasets.x.size.problems: 1 problems leave op(s) [3, 4,"),
    ],
)
def test_dataset_sizes_that_cannot_be_meant_are_refused(size, ops, want):
    from interplay import data

    with pytest.raises(ParamsError) as err:
        data.dataset_spec("x", {"split": "eval", "size": size, "ops": ops})
    assert str(err.value).startswith(want)
    assert "core-hours" in str(err.value) or "without a single problem" in str(err.value)


def test_a_training_length_no_machine_runs_is_refused():
    with pytest.raises(ParamsError) as err:
        train_config({"dataset": "d", "tokens": 10**13}, "pretrain.base")
    assert str(err.value).startswith(
        "pretrain.base.tokens: 10,000,000,000,000 is over 100x"
    ) and " h at " in str(err.value)


def _rl_workspace(tmp_path, **rl_defaults):
    """An RL stage workspace: a 6-prompt pool and a tiny init checkpoint (no training)."""
    import tiny
    from interplay import model as M
    from interplay import tokenizer as T

    p = {
        "task": {"modulus": 23, "const_range": [0, 22], "names": "compact", "letters": "ordered"},
        "datasets": {"pool": {"split": "rl", "size": {"problems": 6}, "ops": "2"}},
        "model": {"n_layer": 1, "d_model": 32, "n_head": 2, "n_kv_head": 1, "d_ff": 64, "max_seq_len": 512},
        "pretrain": {"base": {"dataset": "pool"}},
        "rl": {
            "defaults": {
                "steps": 1,
                "prompts_per_step": 2,
                "rollouts": 2,
                "max_new_tokens": 16,
                "threads": 1,
                **rl_defaults,
            },
            "runs": {"r": {"dataset": "pool", "init": "base"}},
        },
    }
    assert stagerun.run(tmp_path, p, "generate", "pool").returncode == 0
    tok = T.train(["<question> a </question> <solution> b </solution>"], style="compact", max_number=22)
    T.save(tok, tmp_path / "tok.json")
    M.save(
        tiny.model(tok.get_vocab_size(), 512),
        tmp_path / "data/models/base",
        tokenizer_json=tmp_path / "tok.json",
    )
    return p


@pytest.mark.parametrize(
    ("over", "want"),
    [
        (
            {"prompts_per_step": 8, "mini_batches": 1},
            "rl.defaults.prompts_per_step: 8 is more than the 6 prompts",
        ),
        ({"max_new_tokens": 600}, "rl.defaults.max_new_tokens: 600 leaves no room"),
    ],
)
def test_rl_settings_the_pool_or_model_cannot_meet_are_refused(tmp_path, over, want):
    p = _rl_workspace(tmp_path, **over)
    r = stagerun.run(tmp_path, p, "rl", "runs", "r")
    assert r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "data/resume").exists()


def test_parse_checks_every_field_from_its_declaration():
    """params.parse: keys, types and option() checks of a declared config, each error naming its key."""
    from dataclasses import dataclass

    from interplay.params import option, parse

    @dataclass(frozen=True)
    class C:
        name: str = option(doc="required")
        n: int = option(3, lo=1, hi=10)
        x: float = option(0.5, lo=0.0, hi=1.0)
        flag: bool = option(False)
        mode: str = option("a", choices=("a", "b"))
        cap: int | str = option(8, lo=1, sentinel="auto")
        maybe: int | None = option(None, lo=0)
        pair: tuple[float, float] = option((0.1, 0.2), lo=0.0, hi=1.0)
        many: tuple[float, ...] = option((), lo=0.0, hi=1.0)
        raw: tuple[int, ...] | None = option(None, custom=True)
        internal: int = option(7, settable=False)

    c = parse(C, {"name": "r", "cap": "auto", "maybe": None, "many": [0.5, 1.0], "raw": "anything"}, "k")
    assert c == C(name="r", cap="auto", many=(0.5, 1.0))  # custom keys are accepted and left to the caller
    assert parse(C, {"name": "r", "pair": [0.3, 0.4], "maybe": 2}, "k").pair == (0.3, 0.4)
    bad = [
        ({}, "k: missing key(s) ['name']"),
        ({"name": 5}, "k.name: expected a name"),
        ({"name": "r", "n": 11}, "k.n: must be <= 10"),
        ({"name": "r", "n": True}, "k.n: expected an integer"),
        ({"name": "r", "x": "0.5"}, "k.x: expected a number"),
        ({"name": "r", "flag": 1}, "k.flag: expected true or false"),
        ({"name": "r", "mode": "c"}, "k.mode: must be one of a, b"),
        ({"name": "r", "cap": "max"}, "k.cap: expected an integer"),
        ({"name": "r", "maybe": -1}, "k.maybe: must be >= 0"),
        ({"name": "r", "pair": [0.1]}, "k.pair: expected a list of 2"),
        ({"name": "r", "pair": [0.1, 2.0]}, "k.pair[1]: must be <= 1.0"),
        ({"name": "r", "many": [0.2, -1]}, "k.many[1]: must be >= 0.0"),
        ({"name": "r", "internal": 1}, "k.internal: unknown key"),
        ("r", "k: expected a mapping"),
    ]
    for d, msg in bad:
        with pytest.raises(ParamsError) as err:
            parse(C, d, "k")
        assert str(err.value).startswith(msg), (d, str(err.value))


def test_check_lists_every_declared_field():
    from interplay import jobs

    lines = jobs.fields_help()
    keys = {line.split(":", 1)[0] for line in lines}
    assert {"task.modulus", "model.canon", "train_defaults.decay_start", "rl.defaults.ops"} <= keys
    assert {"filter.defaults.keep", "evaluate.defaults.samples"} <= keys
    assert "model.vocab_size" not in keys  # set from the tokenizer, not params
    assert any(line.startswith("rl.defaults.rollouts: int = 6 (2 <= x") for line in lines)
