"""Sampler: the KV-cached, prompt-sharing path equals full recompute; batch composition is irrelevant."""

import pytest
import torch

from interplay import model as M
from interplay.sampling import generate, generate_iter, generate_reference, sample_tokens, uniforms

CFG = M.ModelConfig(vocab_size=40, n_layer=2, d_model=32, n_head=4, n_kv_head=2, d_ff=64, max_seq_len=96)
PROMPTS = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18, 19], [20, 21, 22]]
KEYS = [101, 202, 303, 404]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "canon"])
def model(request):
    """The plain model, and one with Canon layers whose convolutions are not the identity."""
    torch.manual_seed(0)
    m = M.Qwen2(M.ModelConfig(**{**CFG.__dict__, "canon": request.param})).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if ".canon_" in name:
                p.normal_(0.0, 0.5)
    return m


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.7, 0.9), (0.0, 1.0)])
def test_cached_path_equals_full_recompute(model, temperature, top_p):
    n, steps = 3, 24
    fast = generate(
        model,
        PROMPTS,
        n,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=steps,
        stop_ids=[3],
        seed=9,
        problem_keys=KEYS,
        batch_rows=6,
    )
    for p, k, got in zip(PROMPTS, KEYS, fast):
        for j in range(n):
            us = [float(uniforms(9, torch.tensor([k]), n, t)[0, j]) for t in range(steps)]
            ref = generate_reference(model, p, steps, us, temperature, top_p, stop_ids=[3])
            assert got.tokens[j] == ref
            assert got.truncated[j] == (3 not in ref)


def test_dropping_finished_rows_changes_no_sample(model, monkeypatch):
    from interplay import sampling

    taken = []
    real_take = sampling._take
    monkeypatch.setattr(sampling, "_take", lambda *a: taken.append(a[2].shape) or real_take(*a))
    n, steps, stops = 8, 24, [3, 4, 5, 6, 7]  # frequent stops: rows finish at many different steps
    kw = dict(temperature=1.0, max_new_tokens=steps, stop_ids=stops, seed=4, problem_keys=KEYS, batch_rows=16)
    never = generate(model, PROMPTS, n, shrink=0.0, **kw)
    assert taken == []
    eager = generate(model, PROMPTS, n, shrink=1.0, **kw)  # packs rows whenever one finishes
    assert len(taken) > 4 and min(shape[1] for shape in taken) < n  # rows really left the batch
    assert [s.tokens for s in eager] == [s.tokens for s in never]
    assert [s.truncated for s in eager] == [s.truncated for s in never]
    assert len({len(t) for s in eager for t in s.tokens}) > 3
    for p, k, got in zip(PROMPTS, KEYS, eager):
        for j in (0, n - 1):
            us = [float(uniforms(4, torch.tensor([k]), n, t)[0, j]) for t in range(steps)]
            assert got.tokens[j] == generate_reference(model, p, steps, us, 1.0, 1.0, stop_ids=stops)


def test_samples_stream_out_group_by_group_and_equal_the_held_ones(model):
    kw = dict(temperature=1.0, max_new_tokens=12, seed=4, problem_keys=KEYS, batch_rows=2)
    held = generate(model, PROMPTS, 5, **kw)  # n > batch_rows: each problem's samples in 3 pieces
    ticks = []
    streamed = []
    for i, s in generate_iter(model, PROMPTS, 5, on_chunk=lambda a, b: ticks.append(a), **kw):
        streamed.append((i, s.tokens))
        assert sum(ticks) == 5 * len(streamed)  # a problem comes out as soon as its pieces are done
    assert sorted(i for i, _ in streamed) == list(range(len(PROMPTS)))
    assert [t for _, t in sorted(streamed)] == [s.tokens for s in held]


def test_batch_composition_does_not_change_samples(model):
    all_at_once = generate(
        model, PROMPTS, 5, temperature=1.0, max_new_tokens=20, seed=1, problem_keys=KEYS, batch_rows=20
    )
    one_by_one = [
        generate(model, [p], 5, temperature=1.0, max_new_tokens=20, seed=1, problem_keys=[k], batch_rows=2)[0]
        for p, k in zip(PROMPTS, KEYS)
    ]
    assert [s.tokens for s in all_at_once] == [s.tokens for s in one_by_one]


def test_seed_changes_samples(model):
    a = generate(model, PROMPTS[:1], 4, temperature=1.0, max_new_tokens=10, seed=1, problem_keys=[1])
    b = generate(model, PROMPTS[:1], 4, temperature=1.0, max_new_tokens=10, seed=2, problem_keys=[1])
    assert a[0].tokens != b[0].tokens


def test_stops_and_caps(model):
    out = generate(model, PROMPTS, 2, temperature=1.0, max_new_tokens=7, seed=3, problem_keys=KEYS)
    for s in out:
        for toks, trunc in zip(s.tokens, s.truncated):
            assert len(toks) <= 7
            assert trunc == (len(toks) == 7)
    with pytest.raises(ValueError, match="n must be >= 1"):
        generate(model, PROMPTS, 0)
    with pytest.raises(ValueError, match="prompt 1 is empty"):
        generate(model, [[1], []], 1)


def test_top_p_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    us = torch.linspace(0.001, 0.999, 200, dtype=torch.float64)
    picks = {int(sample_tokens(logits, u.view(1), 1.0, 0.7)[0]) for u in us}
    assert picks == {0, 1}
    picks = {int(sample_tokens(logits, u.view(1), 1.0, 1.0)[0]) for u in us}
    assert picks == {0, 1, 2, 3}


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.7, 1.0), (0.7, 0.9)])
def test_draw_leaves_the_logits_alone_and_matches_the_plain_formula(temperature, top_p):
    """The in-place draw writes only its own buffer, and picks what the out-of-place formula picks."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 300, generator=g) * 3
    kept = logits.clone()
    u = torch.rand(64, generator=g, dtype=torch.float64)
    got = sample_tokens(logits, u, temperature, top_p)
    assert torch.equal(logits, kept)
    x = logits / temperature
    w = torch.exp(x - x.amax(-1, keepdim=True))
    order = torch.arange(300).expand(64, 300)
    if top_p < 1.0:
        w, order = w.sort(dim=-1, descending=True)
        cum = w.cumsum(-1)
        w = w * (cum - w < top_p * cum[:, -1:])
    cdf = w.cumsum(-1)
    pick = torch.searchsorted(cdf, (u.float() * cdf[:, -1]).unsqueeze(-1)).clamp_max(299)
    assert torch.equal(got, order.gather(-1, pick).squeeze(-1))


def test_uniforms_are_uniform_and_distinct():
    u = uniforms(0, torch.arange(64), 64, 0)
    assert u.shape == (64, 64) and float(u.min()) > 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.02
    assert len(set(u.flatten().tolist())) == 64 * 64


def test_a_long_prompt_does_not_cut_short_the_others_in_its_chunk(model):
    """Each problem stops at its own room in the model's positions (max_seq_len 96 here)."""
    long = [5 + i % 30 for i in range(80)]  # 80 tokens: room for 16 new ones
    short = PROMPTS[0]
    kw = dict(temperature=1.0, max_new_tokens=40, seed=3, batch_rows=16)  # no stop token: run to the cap
    both = generate(model, [long, short], 4, problem_keys=[11, 22], **kw)
    alone = generate(model, [short], 4, problem_keys=[22], **kw)
    assert both[1].tokens == alone[0].tokens and all(len(t) == 40 for t in both[1].tokens)
    assert all(len(t) == 16 for t in both[0].tokens) and all(both[0].truncated)
