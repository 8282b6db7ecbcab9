"""Damaged inputs: each stage names the stage and the file in one line, exits 2, writes nothing.

A small real workspace (datasets, tokenizer, a tiny checkpoint) is built once; each case copies it,
damages one file the way a crash or a bad copy would, and runs the real stage script.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import stagerun
import tiny
from interplay import inputs
from interplay import model as M
from interplay import tokenizer as T

PARAMS = {
    "task": {"modulus": 23, "const_range": [0, 22], "names": "compact", "letters": "ordered"},
    "generate": {"workers": 1},
    "datasets": {
        "pre": {"split": "pre", "size": {"problems": 30}, "ops": "2-3"},
        "rlset": {"split": "rl", "size": {"problems": 6}, "ops": "2"},
        "ev": {"split": "eval", "size": {"problems": 3}, "ops": "2"},
    },
    "tokenizer": {"dataset": "pre"},
    "tokens": ["pre"],
    "model": {"n_layer": 1, "d_model": 32, "n_head": 2, "n_kv_head": 1, "d_ff": 64, "max_seq_len": 256},
    "train_defaults": {"batch_size": 2, "seq_len": 256, "threads": 1, "device": "cpu"},
    "pretrain": {"base": {"dataset": "pre", "tokens": 2000}},
    "midtrain": {"mid": {"dataset": "pre", "init": "base", "tokens": 1000}},
    "rl": {
        "defaults": {"steps": 1, "prompts_per_step": 2, "rollouts": 2, "max_new_tokens": 8, "threads": 1},
        "runs": {"r": {"dataset": "rlset", "init": "base"}},
    },
    "evaluate": {
        "defaults": {"samples": 2, "problems_per_op": 2, "max_new_tokens": 8, "threads": 1, "device": "cpu"},
        "ranges": {"id": "2"},
        "runs": {"base": {"model": "base", "dataset": "ev"}},
    },
    "calibrate": {"evaluation": "base"},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ws")
    for name in PARAMS["datasets"]:
        r = stagerun.run(root, PARAMS, "generate", name)
        assert r.returncode == 0, r.stderr
    r = stagerun.run(root, PARAMS, "tokenizer")
    assert r.returncode == 0, r.stderr
    r = stagerun.run(root, PARAMS, "tokens", "pre")
    assert r.returncode == 0, r.stderr
    tok = T.load(root / "data/tokenizer/tokenizer.json")
    model = tiny.model(tok.get_vocab_size(), max_seq_len=256)
    assert model.cfg == M.config_from_params(PARAMS["model"], tok.get_vocab_size())
    M.save(model, root / "data/models/base", tokenizer_json=root / "data/tokenizer/tokenizer.json")
    (root / "reports/eval").mkdir(parents=True)
    (root / "reports/eval/base.parquet").write_bytes(b"PAR1 not a table")
    return root


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path) -> None:
    """One flipped bit in the last tensor's bytes: the header and every shape stay valid."""
    data = bytearray(p.read_bytes())
    data[-5] ^= 0x10
    p.write_bytes(bytes(data))


def _garbage(p: Path) -> None:
    p.write_bytes(b"\x00\xffnot what this file should be")


EV, PRE, MID, RL = (
    ("evaluate", "base"),
    ("train", "pretrain", "base"),
    ("train", "midtrain", "mid"),
    ("rl", "runs", "r"),
)
BASE = "data/models/base"
CASES = [
    # (stage script + args, stage name, damaged file, damage, output that must not appear)
    (EV, "evaluate@base", "data/datasets/ev.parquet", _truncate, "reports/metrics"),
    (EV, "evaluate@base", f"{BASE}/tokenizer.json", _garbage, "reports/metrics"),
    (EV, "evaluate@base", f"{BASE}/model.safetensors", _truncate, "reports/metrics"),
    (EV, "evaluate@base", f"{BASE}/config.json", _garbage, "reports/metrics"),
    (EV, "evaluate@base", f"{BASE}/model.safetensors", _flip, "reports/metrics"),
    (MID, "midtrain@mid", f"{BASE}/model.safetensors", _flip, "data/resume"),
    (PRE, "pretrain@base", "data/tokenizer/tokenizer.json", _garbage, "data/resume"),
    (PRE, "pretrain@base", "data/tokens/pre/docs.npy", _truncate, "data/resume"),
    (PRE, "pretrain@base", "data/tokens/pre/ids.bin", _truncate, "data/resume"),
    (PRE, "pretrain@base", "data/tokens/pre/meta.json", _garbage, "data/resume"),
    (("tokens", "pre"), "tokens@pre", "data/datasets/pre.parquet", _truncate, None),
    (MID, "midtrain@mid", f"{BASE}/model.safetensors", _truncate, "data/resume"),
    (MID, "midtrain@mid", f"{BASE}/config.json", _garbage, "data/resume"),
    (RL, "rl@r", f"{BASE}/model.safetensors", _truncate, "data/resume"),
    (RL, "rl@r", "data/datasets/rlset.parquet", _garbage, "data/resume"),
    (("calibrate",), "calibrate", "reports/eval/base.parquet", _garbage, "reports/calibrate.json"),
    (("tokenizer",), "tokenizer", "data/datasets/pre.parquet", _truncate, None),
]


@pytest.mark.parametrize(
    ("args", "stage", "damaged", "damage", "never"), CASES, ids=[f"{c[1]}:{c[2]}" for c in CASES]
)
def test_a_damaged_input_is_named_in_one_line(workspace, tmp_path, args, stage, damaged, damage, never):
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    damage(ws / damaged)
    before = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and p.name != "params.yaml"}
    r = stagerun.script(ws, *args)
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert err[-1].startswith(f"error: {stage}: {damaged}: "), err
    if never is not None:
        assert not (ws / never).exists()
    after = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and p.name != "params.yaml"}
    assert after == before  # nothing written, nothing half-written


def test_checkpoint_check_reads_headers_and_names_a_shape_mismatch(tmp_path):
    m = tiny.model(50)
    M.save(m, tmp_path / "ck")
    assert inputs.checkpoint(tmp_path / "ck") == m.cfg
    cfg = json.loads((tmp_path / "ck/config.json").read_text())
    cfg["interplay"]["d_ff"] = 96  # the config now promises other shapes than the weights hold
    (tmp_path / "ck/config.json").write_text(json.dumps(cfg))
    with pytest.raises(inputs.InputError, match=r"model.safetensors: checkpoint weights do not match"):
        inputs.checkpoint(tmp_path / "ck")
    with pytest.raises(inputs.InputError, match=r"nothing/config.json: checkpoint config not found"):
        inputs.checkpoint(tmp_path / "nothing")
