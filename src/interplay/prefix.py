"""Scoring completions that share a prompt, each prompt computed once.

The RL update scores ``rollouts`` completions of every prompt (6 by default). Scored as separate
right-padded sequences, every prompt token runs through the model once per completion, and the
prompt is most of each sequence (about 170 of 230 tokens at op 6-8). ``SharedPrefix`` lays a
mini-batch out as one flat sequence: each distinct prompt once, then every completion. It is passed
as ``cache`` into ``Qwen2.forward`` (as the sampler's ``PrefixCache`` is), so the model's own layers
run on it. The projections, norms and MLP see each prompt token once. Attention runs causally inside
each prompt. Each completion attends to its prompt's keys and values (valid positions only) and
causally to its own tokens.

The log-probs equal full-sequence scoring up to float rounding (``tests/test_prefix.py`` checks
values and gradients against it, with and without Canon layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SharedPrefix:
    """One mini-batch: ``G`` distinct prompts, ``R`` completions, ``group[r]`` the prompt of row r.

    ``idx`` and ``positions`` (1, G * Lp + R * Lc) are the flat sequence the model runs on: the
    right-padded prompts, then the right-padded completions (a completion's positions continue its
    prompt's). ``mask`` (R, Lc) marks the real completion tokens, the targets that are scored."""

    prompts: torch.Tensor  # (G, Lp)
    plens: torch.Tensor  # (G,)
    group: torch.Tensor  # (R,)
    completions: torch.Tensor  # (R, Lc)
    mask: torch.Tensor  # (R, Lc)
    idx: torch.Tensor
    positions: torch.Tensor
    _attn_mask: torch.Tensor | None = None  # built on first use, shared by every layer

    @classmethod
    def build(cls, seqs: Sequence[tuple[Sequence[int], Sequence[int]]], pad: int, device) -> SharedPrefix:
        """From (prompt, completion) pairs; consecutive rows with the same prompt share it."""
        if not seqs:
            raise ValueError("no sequences to score")
        prompts: list[Sequence[int]] = []
        group: list[int] = []
        for p, _ in seqs:
            if not prompts or list(prompts[-1]) != list(p):
                prompts.append(p)
            group.append(len(prompts) - 1)
        if any(len(p) == 0 for p in prompts) or any(len(c) == 0 for _, c in seqs):
            raise ValueError("every prompt and completion needs at least one token")
        Lp, Lc = max(len(p) for p in prompts), max(len(c) for _, c in seqs)
        pt = torch.full((len(prompts), Lp), pad, dtype=torch.long)
        for i, p in enumerate(prompts):
            pt[i, : len(p)] = torch.tensor(list(p), dtype=torch.long)
        ct = torch.full((len(seqs), Lc), pad, dtype=torch.long)
        for i, (_, c) in enumerate(seqs):
            ct[i, : len(c)] = torch.tensor(list(c), dtype=torch.long)
        plens = torch.tensor([len(p) for p in prompts], dtype=torch.long)
        grp = torch.tensor(group, dtype=torch.long)
        clens = torch.tensor([len(c) for _, c in seqs], dtype=torch.long)
        mask = torch.arange(Lc).view(1, -1) < clens.view(-1, 1)
        pos = torch.cat(
            [
                torch.arange(Lp).repeat(len(prompts)),
                (plens[grp].view(-1, 1) + torch.arange(Lc).view(1, -1)).reshape(-1),
            ]
        )
        idx = torch.cat([pt.reshape(-1), ct.reshape(-1)]).view(1, -1)
        return cls(
            pt.to(device),
            plens.to(device),
            grp.to(device),
            ct.to(device),
            mask.to(device),
            idx.to(device),
            pos.view(1, -1).to(device),
        )

    # -- the flat layout ----------------------------------------------------------------------------

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, N, ...) -> prompts (G, Lp, ...), completions (R, Lc, ...)."""
        G, Lp = self.prompts.shape
        R, Lc = self.completions.shape
        return x[0, : G * Lp].reshape(G, Lp, *x.shape[2:]), x[0, G * Lp :].reshape(R, Lc, *x.shape[2:])

    @staticmethod
    def _join(p: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.cat([p.reshape(-1, *p.shape[2:]), c.reshape(-1, *c.shape[2:])]).unsqueeze(0)

    # -- called from the model's forward ------------------------------------------------------------

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (1, H, N, hd), k/v (1, KV, N, hd) -> attention output (1, N, H * hd)."""
        rep = q.shape[1] // k.shape[1]
        qp, qc = self._split(q.transpose(1, 2))  # (G, Lp, H, hd), (R, Lc, H, hd)
        kp, kc = self._split(k.transpose(1, 2))
        vp, vc = self._split(v.transpose(1, 2))
        qp, kp, vp, qc, kc, vc = (t.transpose(1, 2) for t in (qp, kp, vp, qc, kc, vc))
        yp = F.scaled_dot_product_attention(qp, _heads(kp, rep), _heads(vp, rep), is_causal=True)
        # each completion: its prompt's valid positions, then its own tokens causally
        keys = torch.cat([kp.index_select(0, self.group), kc], dim=2)
        vals = torch.cat([vp.index_select(0, self.group), vc], dim=2)
        yc = F.scaled_dot_product_attention(qc, _heads(keys, rep), _heads(vals, rep), attn_mask=self._mask())
        return self._join(yp.transpose(1, 2).flatten(2), yc.transpose(1, 2).flatten(2))

    def _mask(self) -> torch.Tensor:
        """(R, 1, Lc, Lp + Lc): a row's prompt positions below its prompt's length, then causal."""
        if self._attn_mask is None:
            self._attn_mask = self._build_mask()
        return self._attn_mask

    def _build_mask(self) -> torch.Tensor:
        Lp, Lc = self.prompts.shape[1], self.completions.shape[1]
        dev = self.prompts.device
        prompt = torch.arange(Lp, device=dev).view(1, -1) < self.plens[self.group].view(-1, 1)  # (R, Lp)
        causal = torch.ones(Lc, Lc, dtype=torch.bool, device=dev).tril()
        R = len(self.group)
        return torch.cat(
            [prompt.view(R, 1, Lp).expand(R, Lc, Lp), causal.expand(R, Lc, Lc)], dim=2
        ).unsqueeze(1)

    def canon(self, layer: int, which: int, module, h: torch.Tensor) -> torch.Tensor:
        """A Canon layer: within each prompt, and each completion continuing its prompt's inputs."""
        hp, hc = self._split(h)
        width = module.weight.shape[1] - 1
        hist = module.history(hp, self.plens).index_select(0, self.group)  # (R, width, d)
        return self._join(module(hp), module(torch.cat([hist, hc], dim=1))[:, width:])

    def last(self, x: torch.Tensor) -> torch.Tensor:
        """Where the LM head runs: the position before each completion token, (R, Lc, d) (the
        prompt's last position for the first token)."""
        xp, xc = self._split(x)
        first = xp[self.group, self.plens[self.group] - 1].unsqueeze(1)
        return torch.cat([first, xc[:, :-1]], dim=1)


def _heads(kv: torch.Tensor, rep: int) -> torch.Tensor:
    """Grouped-query attention: each key/value head serves ``rep`` query heads."""
    return kv.repeat_interleave(rep, dim=1) if rep > 1 else kv


def completion_logprobs(
    model, batch: SharedPrefix, with_entropy: bool = False, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs (R, Lc) of every completion token (padding included: ``batch.mask`` marks the real
    ones) under logits / ``temperature``, the distribution the sampler draws from, and the entropy
    there when asked."""
    logits = model(batch.idx, batch.positions, cache=batch).float()
    if temperature != 1.0:
        logits = logits / temperature
    logp = F.log_softmax(logits, dim=-1)
    lp = logp.gather(-1, batch.completions.unsqueeze(-1)).squeeze(-1)
    if not with_entropy:
        return lp, None
    return lp, -(logp.exp() * logp).sum(-1)
