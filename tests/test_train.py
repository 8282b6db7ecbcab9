"""Trainer: packing, schedule, bit-identical resume after a kill, bad params."""

import itertools
import json

import numpy as np
import pytest
import torch

import stagerun
import tiny
from interplay import model as M
from interplay import packing
from interplay import tokenizer as T
from interplay.params import ParamsError
from interplay.task.generate import stream
from interplay.task.spec import TaskSpec
from interplay.train import RunPaths, TrainConfig, batch_rows, config_from_params, lr_at, train

TEXTS = [
    e.text for op in (2, 3, 4) for e in itertools.islice(stream(TaskSpec(), "pre", "zoo", "forward", op), 12)
]


@pytest.fixture(scope="module")
def tok():
    return T.train(TEXTS)


def test_packing_keeps_documents_whole(tok):
    docs = packing.encode(tok, TEXTS, "completion")
    b = packing.pack(docs, 256)
    long = [d for d in docs if len(d[0]) > 256]
    assert b.n_dropped == len(long) > 0
    assert b.real_tokens == sum(len(d[0]) for d in docs) - sum(len(d[0]) for d in long)
    sol = tok.token_to_id("<solution>")
    for r in range(len(b)):
        for d in set(b.docs[r].tolist()) - {-1}:
            cols = np.where(b.docs[r] == d)[0]
            assert (np.diff(cols) == 1).all()  # contiguous
            assert (b.positions[r, cols] == np.arange(len(cols))).all()
            ids = b.tokens[r, cols].tolist()
            assert ids == docs[d][0] and len(ids) <= 256
            start = ids.index(sol) + 1
            # loss at position p predicts token p+1: exactly the completion tokens are targets
            assert b.loss[r, cols].tolist() == [start - 1 <= p < len(ids) - 1 for p in range(len(ids))]
    every = packing.pack(packing.encode(tok, TEXTS, "all"), 512)
    assert every.n_dropped == 0 and every.loss.sum() == sum(len(d[0]) - 1 for d in docs)


def test_schedule_warmup_cosine_and_late_decay():
    cfg = TrainConfig(
        dataset="x", tokens=100 * 4 * 8, batch_size=4, seq_len=8, lr=1.0, min_lr=0.1, warmup=0.1
    )
    lrs = [lr_at(cfg, s) for s in range(cfg.steps)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.1) and all(a >= b for a, b in itertools.pairwise(lrs[10:]))
    late = TrainConfig(
        dataset="x",
        tokens=100 * 4 * 8,
        batch_size=4,
        seq_len=8,
        lr=1.0,
        min_lr=0.1,
        warmup=0.1,
        decay_start=0.6,
    )
    assert lr_at(late, 55) == 1.0 and lr_at(late, 99) == pytest.approx(0.1)


def test_batches_are_a_pure_function_of_step():
    a = [batch_rows(10, 4, 3, s).tolist() for s in range(6)]
    b = [batch_rows(10, 4, 3, s).tolist() for s in range(6)]
    assert a == b
    flat = list(itertools.chain(*a))[:10]
    assert sorted(flat) == list(range(10))  # one epoch covers every block once


def _run(tmp_path, tok, name, stop_after=None, steps=12, **over):
    blocks = packing.pack(packing.encode(tok, TEXTS, "completion"), 128)
    cfg = tiny.train_config(steps, 128, checkpoint_every=4, log_every=2, ladder=(0.5, 1.0), **over)
    mc = tiny.config(tok.get_vocab_size(), 128)
    tj = tmp_path / "tok.json"
    T.save(tok, tj)
    paths = RunPaths(tmp_path / name / "out", tmp_path / name / "resume", tmp_path / name / "live", tj)
    return train(cfg, mc, blocks, paths, stop_after=stop_after, progress=False), paths


def test_resume_after_kill_is_bit_identical(tmp_path, tok):
    full, fp = _run(tmp_path, tok, "full")
    killed, kp = _run(tmp_path, tok, "killed", stop_after=5)
    assert killed.steps == 5 and not (kp.out / "model.safetensors").exists()
    first = json.loads((kp.resume / "state" / "state.json").read_text())["seconds"]
    resumed, kp = _run(tmp_path, tok, "killed")
    assert resumed.resumed_from == 5
    # wall seconds: the killed segment's plus the resumed one's
    assert first > 0 and resumed.seconds > first
    assert json.loads((kp.live / "metrics.json").read_text())["wall_seconds"] == resumed.seconds
    a = M.load(fp.out).state_dict()
    b = M.load(kp.out).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.final_loss == full.final_loss
    assert sorted(p.name for p in (kp.out / "ladder").iterdir()) == ["step000006", "step000012"]
    assert not kp.resume.exists()
    loss_rows = (kp.live / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()[1:]
    assert [int(r.split("\t")[0]) for r in loss_rows] == [2, 4, 6, 8, 10, 12]


def test_bf16_precision_trains_resumes_bit_identically_and_differs_from_fp32(tmp_path, tok):
    """``precision: bf16`` (autocast on CPU) is a real change of arithmetic, it learns as fp32 does,
    and its kill-and-resume is as exact as fp32's."""
    fp32, fp = _run(tmp_path, tok, "fp32")
    bf16, bp = _run(tmp_path, tok, "bf16", precision="bf16")
    _run(tmp_path, tok, "killed", stop_after=5, precision="bf16")
    resumed, kp = _run(tmp_path, tok, "killed", precision="bf16")
    assert resumed.resumed_from == 5 and resumed.final_loss == bf16.final_loss
    a, b, c = (M.load(p.out).state_dict() for p in (bp, kp, fp))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert bf16.final_loss == pytest.approx(fp32.final_loss, rel=0.1)


@pytest.mark.parametrize("damaged", ["optim.safetensors", "model.safetensors", "state.json"])
def test_a_damaged_resume_state_is_said_and_the_run_starts_from_scratch(tmp_path, tok, damaged, capsys):
    full, fp = _run(tmp_path, tok, "full")
    _, kp = _run(tmp_path, tok, "killed", stop_after=5)
    f = kp.resume / "state" / damaged
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # cut off, as a full disk or a bad copy would
    again, kp = _run(tmp_path, tok, "killed")
    assert again.resumed_from == 0 and again.steps == full.steps
    assert "damaged resume state" in capsys.readouterr().out
    a, b = M.load(fp.out).state_dict(), M.load(kp.out).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same model as an uninterrupted run


def test_a_kill_between_the_state_renames_resumes_from_the_old_state(tmp_path, tok):
    _, fp = _run(tmp_path, tok, "full")
    _, kp = _run(tmp_path, tok, "killed", stop_after=5)
    state = kp.resume / "state"
    state.rename(state.with_name("state.old"))  # save_state moved it aside and was killed
    again, kp = _run(tmp_path, tok, "killed")
    assert again.resumed_from == 5  # the state saved when the run stopped (was: from scratch)
    a, b = M.load(fp.out).state_dict(), M.load(kp.out).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_changed_config_does_not_resume_stale_state(tmp_path, tok):
    _run(tmp_path, tok, "r", stop_after=5)
    again, _ = _run(tmp_path, tok, "r", steps=10)
    assert again.resumed_from == 0


@pytest.mark.parametrize(
    "entry, key",
    [
        ({"dataset": "p", "lr": -1}, "pretrain.x.lr: must be >= 0.0"),
        ({"dataset": "p", "warmup": 2}, "pretrain.x.warmup: must be <= 1.0"),
        ({"dataset": "p", "lr": 1e-3, "min_lr": 1e-2}, "pretrain.x.min_lr"),
        ({"dataset": "p", "loss_on": "prompt"}, "pretrain.x.loss_on: must be one of"),
        ({"tokens": 5}, "pretrain.x: missing key(s) ['dataset']"),
        ({"dataset": "p", "ladder": [1.5]}, "pretrain.x.ladder[0]: must be <= 1.0"),
        ({"dataset": "p", "precision": "fp16"}, "pretrain.x.precision: must be one of"),
    ],
)
def test_bad_train_params(entry, key):
    with pytest.raises(ParamsError) as err:
        config_from_params(entry, "pretrain.x")
    assert str(err.value).startswith(key)


def _stage(tmp_path, params, *args):
    return stagerun.run(tmp_path, params, "train", *args)


def test_train_stage_errors_before_compute(tmp_path):
    p = {
        "datasets": {
            "pre": {"split": "pre", "size": {"problems": 1}, "ops": "2"},
            "ev": {"split": "eval", "size": {"problems": 1}, "ops": "2"},
        },
        "tokens": ["pre"],
        "pretrain": {"base": {"dataset": "ev"}},
        "midtrain": {"mid": {"dataset": "pre", "init": "ghost"}},
    }
    r = _stage(tmp_path, p, "pretrain", "base")
    assert r.returncode == 2 and "pretrain.base.dataset: dataset 'ev' is an evaluation set" in r.stderr
    r = _stage(tmp_path, p, "pretrain", "other")
    assert r.returncode == 2 and "pretrain.other: run not declared" in r.stderr
    p["pretrain"]["base"]["dataset"] = "pre"
    r = _stage(tmp_path, p, "midtrain", "mid")  # params are checked before any file
    assert r.returncode == 2 and "midtrain.mid.init: unknown run 'ghost'" in r.stderr
    p["midtrain"]["mid"]["init"] = "base"
    p["tokens"] = []
    r = _stage(tmp_path, p, "midtrain", "mid")
    assert r.returncode == 2 and "midtrain.mid.dataset: dataset 'pre' has no token stream" in r.stderr
    p["tokens"] = ["pre"]
    r = _stage(tmp_path, p, "midtrain", "mid")
    assert r.returncode == 2 and "checkpoint of 'base' not found" in r.stderr
    r = _stage(tmp_path, p, "pretrain", "base")
    assert r.returncode == 2 and "data/tokenizer/tokenizer.json: tokenizer not found" in r.stderr
    T.save(T.train(TEXTS[:3]), tmp_path / "data/tokenizer/tokenizer.json")
    r = _stage(tmp_path, p, "pretrain", "base")
    assert r.returncode == 2 and "data/tokens/pre: token stream of 'pre' not built" in r.stderr
    p["midtrain"]["base"] = {"dataset": "pre"}
    r = _stage(tmp_path, p, "midtrain", "mid")
    assert r.returncode == 2 and "midtrain.base: run name also used in pretrain" in r.stderr
    assert not (tmp_path / "data/models").exists() and not (tmp_path / "data/resume").exists()
