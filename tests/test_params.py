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
        "pretrain": {"base": {"dataset": "ev"}},
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
        ({"generate": {"worker": 2}}, "generate: unknown key(s) ['worker']"),
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
