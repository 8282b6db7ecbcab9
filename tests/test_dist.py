"""torchrun / DDP on CPU with 2 gloo processes: same results as one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import torch

import tiny
from interplay import data, packing
from interplay import evaluate as E
from interplay import model as M
from interplay import tokenizer as T
from interplay.launch import command
from interplay.pool import make_pool
from interplay.task.spec import TaskSpec
from interplay.train import RunPaths, train

HERE = Path(__file__).resolve().parent


def torchrun(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            str(HERE / "ddp_worker.py"),
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp")
    task = TaskSpec(master_seed=5)
    spec = data.dataset_spec("e", {"split": "eval", "size": {"problems": 6}, "ops": "2-3"})
    data.write(d / "eval.parquet", data.generate(task, spec), spec, task)
    tspec = data.dataset_spec("t", {"split": "pre", "size": {"problems": 24}, "ops": "2-3"})
    texts = [e.text for e in data.generate(task, tspec)]
    (d / "texts.json").write_text(json.dumps(texts))
    tok = T.train(texts + pl.read_parquet(d / "eval.parquet")["text"].to_list())
    T.save(tok, d / "tok.json")
    M.save(tiny.model(tok.get_vocab_size(), 256), d / "model", d / "tok.json")
    return d, tok, texts


def test_ddp_training_matches_single_process(setup, tmp_path):
    d, tok, texts = setup
    blocks = packing.pack(packing.encode(tok, texts, "completion"), 256)
    import ddp_worker

    single = tmp_path / "single"
    train(
        ddp_worker.train_config(),
        tiny.config(tok.get_vocab_size(), 256),
        blocks,
        RunPaths(single / "out", single / "resume", single / "live", d / "tok.json"),
        progress=False,
    )
    torchrun("train", str(d), str(tmp_path / "ddp"), cwd=tmp_path)

    def losses(root):
        rows = (root / "live/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
        return [float(r.split("\t")[-1]) for r in rows]

    a, b = losses(single), losses(tmp_path / "ddp")
    assert len(a) == len(b) == 6
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5
    wa = M.load(single / "out").state_dict()
    wb = M.load(tmp_path / "ddp" / "out").state_dict()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_ddp_grpo_matches_single_process(setup, tmp_path, monkeypatch):
    """Rollouts are seeded per (problem, sample), so each rank samples exactly its share of the
    single-process rollouts; the update is a global token-mean, so the weights agree."""
    import ddp_worker
    from interplay import rl

    d, tok, _ = setup
    monkeypatch.setattr(rl, "score", ddp_worker.text_reward_score)  # the worker does the same
    rows = pl.read_parquet(d / "eval.parquet").to_dicts()
    one = tmp_path / "single"
    rl.run(
        ddp_worker.rl_config(),
        make_pool(rows, tok, None),
        tok,
        d / "model",
        rl.RunPaths(one / "out", one / "resume", one / "live", d / "tok.json"),
        progress=False,
    )
    torchrun("rl", str(d), str(tmp_path / "ddp"), cwd=tmp_path)

    def series(root, name):
        rows = (root / f"live/plots/metrics/{name}.tsv").read_text().splitlines()[1:]
        return [float(r.split("\t")[-1]) for r in rows]

    for name in ("reward/mean", "rollout/mean_len", "policy/kl", "policy/loss"):
        a, b = series(one, name), series(tmp_path / "ddp", name)
        assert len(a) == len(b) == 2 and max(abs(x - y) for x, y in zip(a, b)) < 1e-5, name
    assert 0 < series(one, "reward/mean")[0] < 1  # mixed rewards: non-zero advantages
    assert series(one, "policy/kl")[1] > 0  # step 2 samples from an updated policy
    wa = M.load(one / "out").state_dict()
    wb = M.load(tmp_path / "ddp" / "out").state_dict()
    w0 = M.load(d / "model").state_dict()
    assert any(not torch.equal(wa[k], w0[k]) for k in wa)  # the update did move the weights
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_sharded_evaluation_equals_unsharded(setup, tmp_path):
    d, tok, _ = setup
    model = M.load(d / "model")
    one = E.run(
        model,
        tok,
        pl.read_parquet(d / "eval.parquet"),
        E.EvalConfig(samples=3, max_new_tokens=12, threads=1),
        torch.device("cpu"),
        progress=False,
    )
    torchrun("eval", str(d), str(tmp_path / "sharded.parquet"), cwd=tmp_path)
    two = pl.read_parquet(tmp_path / "sharded.parquet")
    cols = ["id", "c_strict", "c_answer", "mean_len", "n_truncated", "cat_correct", "cat_dependency"]
    assert one.select(cols).equals(two.select(cols))


def test_launcher_builds_torchrun_commands():
    assert command(["stages/train.py", "pretrain", "base"], {"nproc": 1})[1:] == [
        "stages/train.py",
        "pretrain",
        "base",
    ]
    cmd = command(["s.py"], {"nproc": 4})
    assert (
        cmd[1:5] == ["-m", "torch.distributed.run", "--nproc-per-node=4", "--nnodes=1"]
        and "--standalone" in cmd
    )
    cmd = command(["s.py"], {"nproc": 8, "nnodes": 2, "rdzv": "head:29500"})
    assert "--rdzv-endpoint=head:29500" in cmd
