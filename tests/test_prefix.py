"""Scoring completions with their shared prompt computed once (``interplay.prefix``) equals scoring
each prompt + completion as its own sequence: log-probs, entropy and gradients."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import tiny
from interplay import model as M
from interplay.prefix import SharedPrefix, completion_logprobs

PAD = 0
# three groups: two rows share a 5-token prompt, one row alone, three rows share a 2-token prompt
# (shorter than a Canon layer's history); completions of different lengths, one of a single token
SEQS = [
    ([3, 4, 5, 6, 7], [8, 9]),
    ([3, 4, 5, 6, 7], [10, 11, 12, 13]),
    ([9, 9, 9], [5]),
    ([11, 12], [13, 14, 15]),
    ([11, 12], [16]),
    ([11, 12], [17, 18, 19, 20, 21]),
]


def full_sequence_logprobs(m: M.Qwen2, seqs, temperature: float = 1.0) -> list[torch.Tensor]:
    """Each row alone, unpadded: log softmax(logits / T) of its completion tokens."""
    out = []
    for p, c in seqs:
        ids = torch.tensor([p + c])
        logits = m(ids[:, :-1])[0, len(p) - 1 :].float() / temperature
        out.append(torch.log_softmax(logits, -1).gather(-1, torch.tensor(c).view(-1, 1))[:, 0])
    return out


def models():
    torch.manual_seed(3)
    plain = M.Qwen2(
        dataclasses.replace(tiny.config(30, 64), n_layer=2)
    )  # two layers: prompt keys of layer 2 come from layer 1
    canon = M.Qwen2(dataclasses.replace(plain.cfg, canon=True))
    torch.manual_seed(4)
    with torch.no_grad():  # Canon layers start as the identity: give them weights that matter
        for name, p in canon.named_parameters():
            if "canon" in name:
                p.normal_(0.0, 0.3)
    return {"plain": plain, "canon": canon}


@pytest.mark.parametrize("kind", ["plain", "canon"])
def test_shared_prompt_scoring_matches_each_sequence_alone(kind):
    m = models()[kind].eval()
    b = SharedPrefix.build(SEQS, PAD, "cpu")
    assert b.prompts.shape[0] == 3 and b.group.tolist() == [0, 0, 1, 2, 2, 2]
    assert b.mask.sum(1).tolist() == [len(c) for _, c in SEQS]
    with torch.no_grad():
        lp, ent = completion_logprobs(m, b, with_entropy=True, temperature=0.7)
        want = full_sequence_logprobs(m, SEQS, temperature=0.7)
    for i, w in enumerate(want):
        torch.testing.assert_close(lp[i, : len(w)], w, rtol=0, atol=2e-6)
    assert bool((ent[b.mask] > 0).all())


@pytest.mark.parametrize("kind", ["plain", "canon"])
def test_shared_prompt_gradients_match_each_sequence_alone(kind):
    m = models()[kind].train()
    b = SharedPrefix.build(SEQS, PAD, "cpu")
    weights = torch.linspace(-1.0, 1.0, len(SEQS))  # a loss that weighs rows differently
    lp, _ = completion_logprobs(m, b)
    (lp * b.mask * weights.view(-1, 1)).sum().backward()
    got = {n: p.grad.clone() for n, p in m.named_parameters()}
    m.zero_grad()
    sum(w * x.sum() for w, x in zip(weights, full_sequence_logprobs(m, SEQS))).backward()
    for n, p in m.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=1e-4, atol=1e-6, msg=n)


def test_rows_with_an_equal_prompt_apart_are_separate_groups_and_bad_rows_are_refused():
    seqs = [([1, 2], [3]), ([4], [5]), ([1, 2], [6])]
    assert SharedPrefix.build(seqs, PAD, "cpu").group.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one token"):
        SharedPrefix.build([([1], [])], PAD, "cpu")
    with pytest.raises(ValueError, match="no sequences"):
        SharedPrefix.build([], PAD, "cpu")
