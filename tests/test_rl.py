"""GRPO: rewards, advantages, the update's direction, resume, bad params."""

import itertools
import json
import math

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch

import tiny
from interplay import data, rl
from interplay import model as M
from interplay import tokenizer as T
from interplay.params import ParamsError
from interplay.pool import make_pool, read_pool
from interplay.prefix import SharedPrefix, completion_logprobs
from interplay.task.spec import TaskSpec
from interplay.task.verify import Score


def S(verified=False, answer=False, pacc=0.0, extra=0):
    n = 4
    perfect = round(pacc * n)
    return Score(n, n - perfect, extra, 0, 0, perfect, answer if not verified else True)


def cfg(**kw):
    return rl.RLConfig(dataset="d", init="i", **kw)


def test_rewards():
    good = S(verified=True, pacc=1.0)
    lucky = S(answer=True, pacc=0.5)
    wrong = S(answer=False, pacc=0.75)
    assert [rl.reward(s, cfg(reward="outcome")) for s in (good, lucky, wrong)] == [1.0, 1.0, 0.0]
    assert [rl.reward(s, cfg(reward="strict")) for s in (good, lucky, wrong)] == [1.0, 0.0, 0.0]
    mix = cfg(reward="process", alpha=0.2)
    assert rl.reward(wrong, mix) == pytest.approx(0.8 * 0.75)
    assert rl.reward(lucky, mix) == pytest.approx(0.2 + 0.8 * 0.5)
    gated = cfg(reward="process", alpha=0.2, process_variant="gated")
    assert rl.reward(wrong, gated) == 0.0
    assert rl.reward(good, gated) == pytest.approx(1.0)


def test_shuffled_rewards_keep_their_values_and_lose_their_rollouts():
    r = np.array([[1.0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]])
    a, b = rl.shuffled(r, 0, 3), rl.shuffled(r, 0, 3)
    assert np.array_equal(a, b) and a.shape == r.shape  # deterministic
    assert sorted(a.ravel()) == sorted(r.ravel()) and a.sum() == r.sum()
    assert any(not np.array_equal(rl.shuffled(r, 0, s), r) for s in range(5))
    assert rl.shuffled(np.zeros((0, 4)), 0, 0).shape == (0, 4)
    assert cfg(shuffle_rewards=True).shuffle_rewards
    c = rl.config_from_params({"dataset": "d", "init": "i", "shuffle_rewards": True}, "rl.runs.x")
    assert c.shuffle_rewards is True


def test_advantages():
    r = np.array([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    a = rl.advantages(r, True)
    assert a[0].sum() == pytest.approx(0) and a[0][0] > 0 > a[0][1]
    assert np.allclose(a[1], 0)
    assert np.allclose(rl.advantages(r, False)[0], [0.5, -0.5, -0.5, 0.5])


def test_update_moves_probability_toward_positive_advantage():
    m = tiny.model(30, 32)
    ref = M.Qwen2(m.cfg)
    ref.load_state_dict(m.state_dict())
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    seqs = [([1, 2, 3], [4, 5, 6]), ([1, 2, 3], [7, 8, 9])]

    def lp(i):
        b = SharedPrefix.build([seqs[i]], T.PAD, "cpu")
        with torch.no_grad():
            return float((completion_logprobs(m, b)[0] * b.mask).sum())

    before = [lp(0), lp(1)]
    stats = rl._update(m, m, ref, opt, seqs, [1.0, -1.0], cfg(kl_coef=0.001, mini_batches=1), "cpu")
    after = [lp(0), lp(1)]
    assert after[0] > before[0] and after[1] < before[1]
    assert stats["kl"] >= 0 and stats["entropy"] > 0


def test_logprobs_are_those_of_the_sampling_distribution():
    """At temperature T the ratio and the KL use log softmax(logits / T): the distribution the
    sampler draws from (``sampling.sample_tokens``), not the raw logits."""
    from interplay.sampling import sample_tokens

    m = tiny.model(30, 32, seed=2).eval()
    prompt, completion = [1, 2, 3], [4, 5, 6, 7]
    b = SharedPrefix.build([(prompt, completion)], T.PAD, "cpu")
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        lp, _ = completion_logprobs(m, b, temperature=0.5)
        logits = m(ids[:, :-1])[:, len(prompt) - 1 :]
        want = torch.log_softmax(logits / 0.5, -1).gather(-1, ids[:, len(prompt) :, None])[..., 0]
        raw, _ = completion_logprobs(m, b)
    torch.testing.assert_close(lp, want, rtol=0, atol=1e-6)
    assert not torch.allclose(lp, raw, atol=1e-3)
    # the sampler at T = 0.5 draws each token with exp(lp): inverse-CDF at u just below that mass
    probs = torch.softmax(logits[0, 0].float() / 0.5, -1).double()
    tok = completion[0]
    u = (probs[:tok].sum() + probs[tok] / 2) / probs.sum()
    assert int(sample_tokens(logits[0, :1], u.view(1), 0.5, 1.0)[0]) == tok
    assert float(lp[0, 0].exp()) == pytest.approx(float(probs[tok] / probs.sum()), rel=1e-5)


def test_clip_fraction_counts_only_tokens_whose_gradient_the_clip_removes():
    ratio = torch.tensor([1.5, 1.5, 0.5, 0.5, 1.1])
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
    loss, clipped = rl.clipped_objective(ratio, adv, 0.2)
    # r > 1 + eps helps only with A > 0; r < 1 - eps only with A < 0: there the clip binds
    assert clipped.tolist() == [True, False, False, True, False]
    torch.testing.assert_close(loss, torch.tensor([-1.2, 1.5, -0.5, 0.8, -1.1]))


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"temperature": 0.0}, "rl.runs.x.temperature: must be > 0"),
        ({"top_p": 0.9}, "rl.runs.x.top_p: must be 1.0"),
    ],
)
def test_rl_sampling_settings_the_update_cannot_follow(entry, key):
    with pytest.raises(ParamsError) as err:
        rl.config_from_params({"dataset": "d", "init": "i", **entry}, "rl.runs.x")
    assert str(err.value).startswith(key)


@pytest.fixture(scope="module")
def pool_setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("rl")
    task = TaskSpec()
    spec = data.dataset_spec("r", {"split": "rl", "size": {"problems": 8}, "ops": "2-3"})
    data.write(d / "r.parquet", data.generate(task, spec), spec, task)
    rows = pl.read_parquet(d / "r.parquet").to_dicts()
    tok = T.train([r["text"] for r in rows])
    T.save(tok, d / "tok.json")
    M.save(tiny.model(tok.get_vocab_size()), d / "init", d / "tok.json")
    return d, rows, tok


def _go(d, rows, tok, name, stop_after=None):
    c = cfg(
        steps=3,
        prompts_per_step=2,
        rollouts=2,
        max_new_tokens=12,
        checkpoint_every=1,
        threads=1,
        device="cpu",
        lr=1e-3,
    )
    pool = make_pool(rows, tok, None)
    paths = rl.RunPaths(d / name / "out", d / name / "resume", d / name / "live", d / "tok.json")
    return rl.run(c, pool, tok, d / "init", paths, stop_after=stop_after, progress=False), paths


def test_resume_is_bit_identical(pool_setup):
    d, rows, tok = pool_setup
    whole, full = _go(d, rows, tok, "full")
    out, part = _go(d, rows, tok, "part", stop_after=1)
    assert out == {"steps": 1, "stopped": True}
    summary, part = _go(d, rows, tok, "part")
    a, b = M.load(full.out).state_dict(), M.load(part.out).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert summary["steps"] == 3 and summary["flops_paper"] > summary["flops_actual"] > 0
    # the ledger counts the steps before the kill too: the same compute as the uninterrupted run
    for k in ("rollout_tokens", "update_tokens", "flops_actual", "token_equivalent_actual"):
        assert summary[k] == whole[k] > 0
    # dvc metrics: each value once (the last step's under its group, no final/ copies)
    live = json.loads((full.live / "metrics.json").read_text())
    assert live["reward"]["mean"] == whole["final/reward/mean"] and live["steps"] == 3
    assert not [k for k in live if k.startswith("final/")]


def test_auto_max_new_tokens_leaves_room_for_the_longest_gold_trace(pool_setup):
    _, rows, tok = pool_setup
    pool = make_pool(rows, tok, None)
    longest = max(pool.gold_len)
    assert longest == max(len(tok.encode(" " + r["text"].split("<solution>")[1]).ids) for r in rows)
    auto = rl.resolve_max_new(cfg(max_new_tokens="auto"), pool, 512, "rl.runs.x")
    assert auto.max_new_tokens == math.ceil(1.5 * longest)
    assert rl.resolve_max_new(cfg(max_new_tokens="auto"), pool, 40, "k").max_new_tokens == 39
    assert rl.resolve_max_new(cfg(max_new_tokens=7), pool, 512, "k").max_new_tokens == 7
    no_text = make_pool([{k: v for k, v in r.items() if k != "text"} for r in rows], tok, None)
    with pytest.raises(ParamsError, match=r"rl\.runs\.x\.max_new_tokens: 'auto' needs"):
        rl.resolve_max_new(cfg(max_new_tokens="auto"), no_text, 512, "rl.runs.x")


def test_ledger_length_stays_within_the_models_positions(pool_setup):
    _, rows, tok = pool_setup
    pool = make_pool(rows, tok, None)
    lens = [len(tok.encode(r["prompt"]).ids) for r in rows]
    assert pool.prompt_len.tolist() == lens
    assert rl.rollout_length(pool, 10_000, 512) == 512  # never more than the model can hold
    assert rl.rollout_length(pool, 5, 512) == pytest.approx(np.mean(lens) + 5)


def test_a_damaged_rl_resume_state_starts_from_scratch(pool_setup, capsys):
    d, rows, tok = pool_setup
    _, full = _go(d, rows, tok, "full2")
    _go(d, rows, tok, "part2", stop_after=1)
    f = d / "part2" / "resume" / "state" / "optim.safetensors"
    f.write_bytes(b"garbage")
    summary, part = _go(d, rows, tok, "part2")
    assert "damaged resume state" in capsys.readouterr().out and summary["steps"] == 3
    a, b = M.load(full.out).state_dict(), M.load(part.out).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_pool_read_from_parquet_equals_the_one_in_memory(pool_setup, tmp_path):
    d, rows, tok = pool_setup
    path = tmp_path / "pool.parquet"
    pl.read_parquet(d / "r.parquet").write_parquet(path, row_group_size=3)  # several row groups
    assert pq.ParquetFile(path).num_row_groups > 1
    mem, disk = make_pool(rows, tok, None), read_pool(path, tok, None)
    for a in ("rows", "ops", "keys", "prompt_len", "gold_len"):
        assert np.array_equal(getattr(mem, a), getattr(disk, a)), a
    idx = [len(rows) - 1, 0, 4, 4, 1]  # any order, repeats, across row groups
    got, want = disk.get(idx), mem.get(idx)
    assert [p.ids for p in got] == [p.ids for p in want] == [tok.encode(rows[i]["prompt"]).ids for i in idx]
    assert [(p.gold, p.answer, p.modulus, p.key) for p in got] == [
        (p.gold, p.answer, p.modulus, p.key) for p in want
    ]
    some = read_pool(path, tok, (3,))
    assert set(some.ops.tolist()) == {3} and all(rows[r]["op"] == 3 for r in some.rows)


def test_prompt_order_is_a_pure_function():
    a = rl.prompt_indices(10, 25, 3, 0)
    assert a == rl.prompt_indices(10, 15, 3, 0) + rl.prompt_indices(10, 10, 3, 15)
    assert sorted(a[:10]) == list(range(10))


def test_ops_filter(pool_setup):
    _, rows, tok = pool_setup
    assert set(make_pool(rows, tok, (3,)).ops) == {3}
    with pytest.raises(ParamsError, match="no RL prompt left"):
        make_pool(rows, tok, (9,))


@pytest.mark.parametrize(
    "entry, key",
    [
        ({"alpha": 1.5}, "rl.runs.x.alpha: must be <= 1.0"),
        ({"rollouts": 1}, "rl.runs.x.rollouts: must be >= 2"),
        ({"reward": "vibes"}, "rl.runs.x.reward: must be one of"),
        ({"prompts_per_step": 6, "mini_batches": 4}, "rl.runs.x.mini_batches: 4 does not divide"),
        ({"ops": "calibrated"}, "rl.runs.x.ops: 'calibrated' needs a calibration file"),
    ],
)
def test_bad_rl_params(entry, key):
    with pytest.raises(ParamsError) as err:
        rl.config_from_params({"dataset": "d", "init": "i", **entry}, "rl.runs.x")
    assert str(err.value).startswith(key)


def test_calibrated_ops():
    c = rl.config_from_params(
        {"dataset": "d", "init": "i", "ops": "calibrated"}, "k", calibrated={"ops": "7-9"}
    )
    assert c.ops == (7, 8, 9)
    assert list(itertools.islice(iter(c.ops), 1)) == [7]


def test_indexing_in_small_batches_gives_the_same_pool(pool_setup, tmp_path, monkeypatch):
    import interplay.pool as P

    d, rows, tok = pool_setup
    path = tmp_path / "pool.parquet"
    pl.read_parquet(d / "r.parquet").write_parquet(path, row_group_size=3)
    whole = read_pool(path, tok, None)
    monkeypatch.setattr(P, "INDEX_BATCH", 2)  # several batches per pool
    for ops in (None, (3,)):
        small = read_pool(path, tok, ops)
        want = whole if ops is None else make_pool(rows, tok, ops)
        for a in ("rows", "ops", "keys", "prompt_len", "gold_len"):
            assert np.array_equal(getattr(small, a), getattr(want, a)), (ops, a)
            assert getattr(small, a).dtype == getattr(want, a).dtype, (ops, a)


def test_bf16_update_stays_close_to_fp32_and_moves_the_same_way():
    """``precision: bf16`` runs the update's forwards under autocast: log-probs are still fp32 (taken
    after a float cast), and one update moves probability toward the positive advantage as in fp32."""
    seqs = [([1, 2, 3], [4, 5, 6]), ([1, 2, 3], [7, 8, 9])]
    moved = {}
    for precision in ("fp32", "bf16"):
        m = tiny.model(30, 32)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
        b = SharedPrefix.build([seqs[0]], T.PAD, "cpu")
        with torch.no_grad():
            before = completion_logprobs(m, b)[0]
        rl._update(m, m, None, opt, seqs, [1.0, -1.0], cfg(mini_batches=1, precision=precision), "cpu")
        with torch.no_grad():
            after = completion_logprobs(m, b)[0]
        assert after.dtype == torch.float32
        moved[precision] = float((after - before).sum())
    assert moved["fp32"] > 0 and moved["bf16"] > 0
    assert moved["bf16"] == pytest.approx(moved["fp32"], rel=0.2)
    with pytest.raises(ParamsError, match=r"rl\.runs\.x\.precision"):
        rl.config_from_params({"dataset": "d", "init": "i", "precision": "fp16"}, "rl.runs.x")
