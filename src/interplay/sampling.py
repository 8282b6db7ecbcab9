"""Batched sampling through the model's own forward with a KV cache (``PrefixCache``), each prompt
prefilled once per problem.

Rows are laid out as ``[P problems, n samples]``. A problem's prompt keys/values are computed once and
shared by its n rows inside the attention matmul (no copies); generated keys/values live in a
preallocated ``[P, n, kv_heads, max_new, head_dim]`` cache. A problem whose n rows have all stopped
leaves the batch; finished rows leave it too, once the most live rows any problem has left fits in
``shrink`` of the current width (each problem's live rows are packed first, short problems padded
with finished rows whose output is ignored). Every random draw is a counter-based hash of (seed,
problem key, sample index, step), so no draw depends on which other problems or rows share its
batch. The logits can: a chunk pads its prompts to its longest one, so a problem evaluated beside
other problems may see logits that differ in the last bits, and a rare sample then takes another
token (one problem's mean length in 12 evaluations, ``docs/log.md``, thirteenth session). On CPU
the same problems with the same settings give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from interplay.model import Qwen2

_M32 = 0xFFFFFFFF


def _pcg(x: torch.Tensor) -> torch.Tensor:
    """PCG-style 32-bit integer hash on int64 tensors (values stay below 2**62: no overflow)."""
    x = (x * 747796405 + 2891336453) & _M32
    word = (((x >> ((x >> 28) + 4)) ^ x) * 277803737) & _M32
    return ((word >> 22) ^ word) & _M32


def uniforms(seed: int, problem_keys: torch.Tensor, n: int, step: int, offset: int = 0) -> torch.Tensor:
    """U(0,1) per (problem, sample) for one step: shape (P, n). Deterministic, batch-independent."""
    s = torch.arange(offset, offset + n, dtype=torch.int64)
    h = _pcg(torch.full((1,), seed & _M32, dtype=torch.int64))
    h = _pcg(h ^ (problem_keys.to(torch.int64).view(-1, 1) & _M32))
    h = _pcg(h ^ s.view(1, -1))
    h = _pcg(h ^ (step & _M32))
    return (h.double() + 0.5) / 2.0**32


def sample_tokens(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Inverse-CDF sampling of one token per row from ``logits`` (R, V) with uniforms ``u`` (R,).
    The CDF is the running sum of unnormalised float32 weights ``exp(logits / T - max)``; ``u`` is
    scaled by the row's total (no softmax, no float64 pass: 5x cheaper than both at V = 2,304)."""
    if temperature <= 0:
        return logits.argmax(-1)
    x = logits.float() / temperature
    w = torch.exp(x - x.amax(-1, keepdim=True))
    order = None
    if top_p < 1.0:
        w, order = w.sort(dim=-1, descending=True)
        cum = w.cumsum(-1)
        w = w * (cum - w < top_p * cum[:, -1:])  # smallest prefix whose mass reaches top_p
    cdf = w.cumsum(-1)
    pick = torch.searchsorted(cdf, (u.to(cdf) * cdf[:, -1]).unsqueeze(-1)).clamp_max(cdf.shape[-1] - 1)
    return (pick if order is None else order.gather(-1, pick)).squeeze(-1)


@dataclass
class Samples:
    """Completions for one problem: token ids per sample (stop token included), and truncation."""

    tokens: list[list[int]]
    truncated: list[bool]


class PrefixCache:
    """The sampler's KV cache, passed into ``Qwen2.forward`` (the model's own layers read and extend
    it). Rows are ``[A problems, m rows]``. The first forward (prefill) runs each problem's
    right-padded prompt once and keeps its keys/values (A, kv, L, hd), shared by the problem's m rows
    inside the attention matmul; each later forward takes one new token per row, whose keys/values
    go into preallocated (A, kv, m, max_new, hd) buffers. A Canon model's decoding state (the last
    inputs of each Canon layer, (A, m, 3, d)) rides along. ``keep_problems`` / ``keep_rows`` drop
    finished problems and rows from every buffer."""

    def __init__(self, cfg, lengths: torch.Tensor, max_new: int) -> None:
        self.cfg = cfg
        self.lengths = lengths  # (A,) prompt lengths
        self.max_new = max_new
        self.prompt_kv: list = [None] * cfg.n_layer
        self.hists: list = [None] * (2 * cfg.n_layer if cfg.canon else 0)  # per layer: attention, MLP
        self.gen_k: list[torch.Tensor] = []
        self.gen_v: list[torch.Tensor] = []
        self.pbias: torch.Tensor | None = None  # (A, 1, 1, L): 0 at prompt positions, -inf at padding
        self.t = -1  # the decoding step being written; -1 while prefilling
        self.m = 1  # rows per problem

    # -- called from the model's forward ---------------------------------------------------------

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention output (B, T, heads * hd) before the output projection."""
        cfg = self.cfg
        rep = cfg.n_head // cfg.n_kv_head
        if self.t < 0:  # prefill: causal over each prompt, keys/values kept
            self.prompt_kv[layer] = (k, v)  # (P, kv, L, hd)
            kk = k.repeat_interleave(rep, dim=1) if rep > 1 else k
            vv = v.repeat_interleave(rep, dim=1) if rep > 1 else v
            y = torch.nn.functional.scaled_dot_product_attention(q, kk, vv, is_causal=True)
            return y.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)
        # decoding: scores laid out (A, kv, m, rep, keys) throughout, so no score tensor is permuted
        # or copied, and scaled and masked in place (the same products, sums and scaling as the
        # einsum formulation before it, so the same bits; the padding mask is an additive bias)
        A, m, t, kv, hd = len(self.lengths), self.m, self.t, cfg.n_kv_head, cfg.head_dim
        self.gen_k[layer][:, :, :, t] = k.view(A, m, kv, hd).transpose(1, 2)
        self.gen_v[layer][:, :, :, t] = v.view(A, m, kv, hd).transpose(1, 2)
        qg = q.view(A, m, kv, rep, hd).transpose(1, 2).reshape(A * kv, m * rep, hd)
        pk, pv = self.prompt_kv[layer]  # (A, kv, L, hd), shared by the problem's m rows
        L, scale = pk.shape[2], 1.0 / math.sqrt(hd)
        s_p = torch.bmm(qg, pk.reshape(A * kv, L, hd).transpose(1, 2)).mul_(scale)
        s_p.view(A, kv, m * rep, L).add_(self.pbias)
        gk = self.gen_k[layer][:, :, :, : t + 1].reshape(A * kv * m, t + 1, hd)
        gv = self.gen_v[layer][:, :, :, : t + 1].reshape(A * kv * m, t + 1, hd)
        s_g = torch.bmm(qg.view(A * kv * m, rep, hd), gk.transpose(1, 2)).mul_(scale)
        w = torch.softmax(torch.cat([s_p.view(A * kv * m, rep, L), s_g], dim=-1), dim=-1)
        y = torch.bmm(w[..., :L].view(A * kv, m * rep, L), pv.reshape(A * kv, L, hd)).view(
            A * kv * m, rep, hd
        )
        y = y + torch.bmm(w[..., L:], gv)
        return y.view(A, kv, m, rep * hd).transpose(1, 2).reshape(A * m, 1, -1)

    def canon(self, layer: int, which: int, module, h: torch.Tensor) -> torch.Tensor:
        """A Canon layer (``which``: 0 before attention, 1 before the MLP) with its decoding state."""
        i = 2 * layer + which
        if self.t < 0:
            self.hists[i] = module.history(h, self.lengths)  # (P, 3, d) at the end of each prompt
            return module(h)
        A, m = len(self.lengths), self.m
        y, self.hists[i] = module.step(h.view(A, m, -1), self.hists[i])
        return y.view(A * m, 1, -1)

    def last(self, x: torch.Tensor) -> torch.Tensor:
        """Where the LM head runs: each prompt's last position, then the one new token per row."""
        if self.t < 0:
            return x[torch.arange(x.shape[0], device=x.device), self.lengths - 1]
        return x

    # -- called by the sampler --------------------------------------------------------------------

    def start_decoding(self, n: int, device) -> None:
        """After the prefill: every problem gets n rows."""
        P, L = len(self.lengths), self.prompt_kv[0][0].shape[2]
        self.hists = [hh.unsqueeze(1).expand(P, n, *hh.shape[1:]).contiguous() for hh in self.hists]
        kv, hd = self.cfg.n_kv_head, self.cfg.head_dim
        pad = torch.arange(L, device=device).view(1, L) >= self.lengths.view(P, 1)
        self.pbias = torch.zeros(P, L, device=device).masked_fill_(pad, float("-inf")).view(P, 1, 1, L)
        self.gen_k = [torch.empty(P, kv, n, self.max_new, hd, device=device) for _ in self.prompt_kv]
        self.gen_v = [torch.empty(P, kv, n, self.max_new, hd, device=device) for _ in self.prompt_kv]
        self.m = n

    def positions(self) -> torch.Tensor:
        """Each row's position for the token being decoded: (A * m, 1)."""
        return (self.lengths + self.t).repeat_interleave(self.m).view(-1, 1)

    def keep_problems(self, keep: torch.Tensor) -> None:
        """Only problems ``keep`` (indices, on the caches' device) stay."""
        self.prompt_kv = [(k.index_select(0, keep), v.index_select(0, keep)) for k, v in self.prompt_kv]
        self.gen_k = [_keep(g, keep, self.t) for g in self.gen_k]
        self.gen_v = [_keep(g, keep, self.t) for g in self.gen_v]
        self.hists = [hh.index_select(0, keep) for hh in self.hists]
        self.pbias = self.pbias.index_select(0, keep)
        self.lengths = self.lengths.index_select(0, keep)

    def keep_rows(self, a: torch.Tensor, pos: torch.Tensor) -> None:
        """Each problem keeps rows ``pos`` (A, m'), ``a`` (A, 1) its index; decoded steps <= t copied."""
        self.gen_k = [_take(g, a, pos, self.t) for g in self.gen_k]
        self.gen_v = [_take(g, a, pos, self.t) for g in self.gen_v]
        self.hists = [hh[a, pos] for hh in self.hists]
        self.m = pos.shape[1]


def _keep(cache: torch.Tensor, keep: torch.Tensor, t: int) -> torch.Tensor:
    """Problems ``keep`` of a (A, kv, m, T, hd) cache into a new buffer; only steps <= t are copied
    (the rest of the buffer is never read before it is written, and stays untouched memory)."""
    new = cache.new_empty((len(keep), *cache.shape[1:]))
    new[:, :, :, : t + 1] = cache[:, :, :, : t + 1].index_select(0, keep)
    return new


def _take(cache: torch.Tensor, a: torch.Tensor, pos: torch.Tensor, t: int) -> torch.Tensor:
    """Rows ``pos`` (A, m') of a (A, kv, m, T, hd) cache into a new buffer; only steps <= t are copied."""
    A, kv, _, T, hd = cache.shape
    new = cache.new_empty((A, kv, pos.shape[1], T, hd))
    new.transpose(1, 2)[:, :, :, : t + 1] = cache.transpose(1, 2)[:, :, :, : t + 1][a, pos]
    return new


@torch.no_grad()
def _generate_chunk(
    model,
    prompts: list[list[int]],
    keys: list[int],
    n: int,
    offset: int,
    *,
    temperature,
    top_p,
    max_new_tokens,
    caps: list[int],
    stop_ids,
    seed,
    device,
    shrink: float,
) -> list[Samples]:
    P = len(prompts)
    L = max(len(p) for p in prompts)
    pt = torch.zeros(P, L, dtype=torch.long)
    for i, p in enumerate(prompts):
        pt[i, : len(p)] = torch.tensor(p, dtype=torch.long)
    lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long)
    cache = PrefixCache(model.cfg, lengths.to(device), max_new_tokens)
    logits = model(pt.to(device), cache=cache)  # prefill: (P, V) at each prompt's last position
    cache.start_decoding(n, device)
    out = torch.full((P, n, max_new_tokens), -1, dtype=torch.long)
    done = torch.zeros(P, n, dtype=torch.bool)  # finished: a stop token or the problem's cap
    stopped = torch.zeros(P, n, dtype=torch.bool)  # finished by a stop token (not truncated)
    cap_t = torch.tensor(caps, dtype=torch.long)  # each problem's own room for new tokens
    keys_t = torch.tensor(keys, dtype=torch.int64)
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long)
    active = torch.arange(P)  # problems still generating (indices into the chunk)
    logits = logits.unsqueeze(1).expand(P, n, -1)
    slot = torch.arange(n).expand(P, n)  # (A, m): the sample index each of a problem's m rows holds
    m = n
    ar = torch.arange(P).view(P, 1)
    for t in range(max_new_tokens):
        A = len(active)
        u = uniforms(seed, keys_t[active], n, t, offset).gather(1, slot)  # (A, m)
        tok = sample_tokens(logits.reshape(A * m, -1), u.reshape(-1).to(logits.device), temperature, top_p)
        tok = tok.view(A, m).cpu()
        rows = (active.view(A, 1), slot)
        fresh = ~done[rows]  # rows kept only as padding hold finished samples: never fresh
        out[(*rows, t)] = torch.where(fresh, tok, out[(*rows, t)])
        hit = fresh & torch.isin(tok, stop)
        stopped[rows] |= hit
        done[rows] |= hit | (fresh & (t + 1 >= cap_t[active]).view(A, 1))
        alive_rows = ~done[rows]  # (A, m)
        alive = alive_rows.any(dim=1)
        if t == max_new_tokens - 1 or not alive.any():
            break
        cache.t = t
        if not alive.all():  # drop finished problems from every cache
            keep = alive.nonzero().squeeze(1)
            active = active[keep]
            tok, slot, alive_rows, logits = tok[keep], slot[keep], alive_rows[keep], logits[keep]
            cache.keep_problems(keep.to(device))
            A = len(active)
        width = int(alive_rows.sum(dim=1).max())
        if width <= m * shrink:  # drop finished rows: each problem's live rows first, then padding
            pos = torch.sort((~alive_rows).to(torch.int8), dim=1, stable=True).indices[:, :width]
            a = ar[:A]
            slot, tok, logits = slot.gather(1, pos), tok.gather(1, pos), logits[a, pos]
            cache.keep_rows(a.to(device), pos.to(device))  # both indices on the caches' device
            m = width
        # one decoding step for all A * m rows: the model's own forward, reading and extending the cache
        logits = model(tok.to(device).view(A * m, 1), cache.positions(), cache=cache).view(A, m, -1)
    results = []
    for i in range(P):
        toks, trunc = [], []
        for j in range(n):
            row = out[i, j]
            row = row[row >= 0].tolist()
            toks.append(row)
            trunc.append(not bool(stopped[i, j]))
        results.append(Samples(toks, trunc))
    return results


def generate(
    model: Qwen2,
    prompts: Sequence[Sequence[int]],
    n: int,
    **kw: Any,
) -> list[Samples]:
    """n samples for each prompt, all held (``generate_iter`` yields them problem by problem)."""
    out: list[Samples | None] = [None] * len(prompts)
    for i, s in generate_iter(model, prompts, n, **kw):
        out[i] = s
    return out  # type: ignore[return-value]


def generate_iter(
    model: Qwen2,
    prompts: Sequence[Sequence[int]],
    n: int,
    *,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    stop_ids: Sequence[int] = (),
    seed: int = 0,
    problem_keys: Sequence[int] | None = None,
    batch_rows: int = 512,
    device: str | torch.device = "cpu",
    on_chunk: Callable[[int, int], None] | None = None,
    shrink: float = 0.6,
) -> Iterator[tuple[int, Samples]]:
    """n samples for each prompt, yielded as ``(prompt index, Samples)`` as soon as a problem's
    samples are complete, so a caller that scores and drops them holds one group of problems at a
    time. Problems are grouped by prompt length into chunks of about ``batch_rows`` rows; with n >
    batch_rows a problem's samples are split across chunks (pieces), run one after the other for
    the group. Every chunk is a pure function of its problems, their keys and the sample offset, so
    the samples do not depend on the order the chunks run in; ``shrink`` only sets how eagerly
    finished rows are dropped (0 never): the samples do not depend on it either."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    keys = list(problem_keys) if problem_keys is not None else list(range(len(prompts)))
    limit = model.cfg.max_seq_len
    for i, p in enumerate(prompts):
        if not p:
            raise ValueError(f"prompt {i} is empty")
    model.eval()
    per = max(1, min(n, batch_rows))
    pieces = [(off, min(per, n - off)) for off in range(0, n, per)]
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    group = max(1, batch_rows // per)
    for c in range(0, len(order), group):
        idx = order[c : c + group]
        # each problem stops at its own room in the model's positions, not the longest prompt's
        caps = [max(1, min(max_new_tokens, limit - len(prompts[i]))) for i in idx]
        parts: list[list[Samples]] = [[] for _ in idx]
        for off, m in pieces:
            chunk = _generate_chunk(
                model,
                [list(prompts[i]) for i in idx],
                [keys[i] for i in idx],
                m,
                off,
                temperature=temperature,
                top_p=top_p,
                max_new_tokens=max(caps),
                caps=caps,
                stop_ids=set(stop_ids),
                seed=seed,
                device=device,
                shrink=shrink,
            )
            for j, s in enumerate(chunk):
                parts[j].append(s)
            if on_chunk is not None:
                on_chunk(sum(len(s.tokens) for s in chunk), sum(len(t) for s in chunk for t in s.tokens))
        for i, rs in zip(idx, parts):
            yield i, Samples([t for s in rs for t in s.tokens], [b for s in rs for b in s.truncated])


@torch.no_grad()
def generate_reference(
    model: Qwen2,
    prompt: Sequence[int],
    steps: int,
    u: Sequence[float],
    temperature: float,
    top_p: float,
    stop_ids: Sequence[int] = (),
) -> list[int]:
    """The slow path: full recompute every step, no cache (tests compare the fast path to it)."""
    seq = list(prompt)
    out: list[int] = []
    for t in range(steps):
        logits = model(torch.tensor([seq]))[:, -1]
        tok = int(sample_tokens(logits, torch.tensor([u[t]], dtype=torch.float64), temperature, top_p)[0])
        out.append(tok)
        seq.append(tok)
        if tok in stop_ids:
            break
    return out
