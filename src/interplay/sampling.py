"""Batched sampling with a preallocated KV cache and a prompt prefilled once per problem.

Rows are laid out as ``[P problems, n samples]``. A problem's prompt keys/values are computed once and
shared by its n rows inside the attention matmul (no copies); generated keys/values live in a
preallocated ``[P, n, kv_heads, max_new, head_dim]`` cache. A problem whose n rows have all stopped
leaves the batch; finished rows leave it too, once the most live rows any problem has left fits in
``shrink`` of the current width (each problem's live rows are packed first, short problems padded
with finished rows whose output is ignored). Every random draw is a counter-based hash of (seed,
problem key, sample index, step), so a sample does not depend on which other problems or rows share
its batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from interplay.model import Qwen2, rope_tables

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
    """Inverse-CDF sampling of one token per row from ``logits`` (R, V) with uniforms ``u`` (R,)."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1).double()
    if top_p < 1.0:
        sp, order = probs.sort(dim=-1, descending=True)
        keep = sp.cumsum(-1) - sp < top_p  # smallest prefix whose mass reaches top_p
        sp = sp * keep
        cdf = sp.cumsum(-1)
        pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1)).clamp_max(cdf.shape[-1] - 1)
        return order.gather(-1, pick).squeeze(-1)
    cdf = probs.cumsum(-1)
    pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1)).clamp_max(cdf.shape[-1] - 1)
    return pick.squeeze(-1)


@dataclass
class Samples:
    """Completions for one problem: token ids per sample (stop token included), and truncation."""

    tokens: list[list[int]]
    truncated: list[bool]


def _prefill(model: Qwen2, prompts: torch.Tensor, lengths: torch.Tensor):
    """Run the (right-padded) prompts once; return last-position logits, per-layer K/V and, for a
    Canon model, each Canon layer's history (P, 3, d) at the end of each prompt (else ``[]``)."""
    cfg = model.cfg
    P, L = prompts.shape
    pos = torch.arange(L, device=prompts.device)
    cos, sin = rope_tables(cfg, pos)
    x = model.model.embed_tokens(prompts)
    kvs, hists = [], []
    for layer in model.model.layers:
        h = layer.input_layernorm(x)
        if cfg.canon:
            hists.append(layer.canon_attn.history(h, lengths))
            h = layer.canon_attn(h)
        q, k, v = layer.self_attn.qkv(h, cos, sin)
        kvs.append((k, v))  # (P, kv, L, hd)
        rep = cfg.n_head // cfg.n_kv_head
        kk = k.repeat_interleave(rep, dim=1) if rep > 1 else k
        vv = v.repeat_interleave(rep, dim=1) if rep > 1 else v
        y = torch.nn.functional.scaled_dot_product_attention(q, kk, vv, is_causal=True)
        x = x + layer.self_attn.o_proj(y.transpose(1, 2).reshape(P, L, -1))
        h = layer.post_attention_layernorm(x)
        if cfg.canon:
            hists.append(layer.canon_mlp.history(h, lengths))
            h = layer.canon_mlp(h)
        x = x + layer.mlp(h)
    last = x[torch.arange(P, device=x.device), lengths - 1]
    return model.lm_head(model.model.norm(last)), kvs, hists


def _canon_step(canon, h: torch.Tensor, hist: torch.Tensor, A: int, m: int):
    """A Canon layer on one new token per row: h (A*m, 1, d), history (A, m, 3, d)."""
    y, hist = canon.step(h.view(A, m, -1), hist)
    return y.view(A * m, 1, -1), hist


def _take(cache: torch.Tensor, a: torch.Tensor, pos: torch.Tensor, t: int) -> torch.Tensor:
    """Rows ``pos`` (A, m') of a (A, m, kv, T, hd) cache into a new buffer; only steps <= t are copied."""
    new = cache.new_empty((pos.shape[0], pos.shape[1], *cache.shape[2:]))
    new[:, :, :, : t + 1] = cache[:, :, :, : t + 1][a, pos]
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
    cfg = model.cfg
    P = len(prompts)
    L = max(len(p) for p in prompts)
    pt = torch.zeros(P, L, dtype=torch.long)
    for i, p in enumerate(prompts):
        pt[i, : len(p)] = torch.tensor(p, dtype=torch.long)
    lengths = torch.tensor([len(p) for p in prompts], dtype=torch.long)
    pt, lengths_d = pt.to(device), lengths.to(device)
    logits, prompt_kv, hists = _prefill(model, pt, lengths_d)
    # Canon state per row: two histories per layer (attention, MLP), each (P, n, 3, d)
    hists = [hh.unsqueeze(1).expand(P, n, *hh.shape[1:]).contiguous() for hh in hists]
    kv, rep, hd = cfg.n_kv_head, cfg.n_head // cfg.n_kv_head, cfg.head_dim
    # prompt key mask: padding positions never attended
    pmask = torch.arange(L, device=device).view(1, L) < lengths_d.view(P, 1)  # (P, L)
    gen_k = [torch.empty(P, n, kv, max_new_tokens, hd, device=device) for _ in prompt_kv]
    gen_v = [torch.empty(P, n, kv, max_new_tokens, hd, device=device) for _ in prompt_kv]
    out = torch.full((P, n, max_new_tokens), -1, dtype=torch.long)
    done = torch.zeros(P, n, dtype=torch.bool)  # finished: a stop token or the problem's cap
    stopped = torch.zeros(P, n, dtype=torch.bool)  # finished by a stop token (not truncated)
    cap_t = torch.tensor(caps, dtype=torch.long)  # each problem's own room for new tokens
    keys_t = torch.tensor(keys, dtype=torch.int64)
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long)
    active = torch.arange(P)  # problems still generating (indices into the chunk)
    logits = logits.unsqueeze(1).expand(P, n, -1)
    scale = 1.0 / math.sqrt(hd)
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
        if not alive.all():  # drop finished problems from every cache
            keep = alive.nonzero().squeeze(1)
            active = active[keep]
            kd = keep.to(device)
            tok, slot, alive_rows, logits = tok[keep], slot[keep], alive_rows[keep], logits[keep]
            prompt_kv = [(k.index_select(0, kd), v.index_select(0, kd)) for k, v in prompt_kv]
            gen_k = [g.index_select(0, kd) for g in gen_k]
            gen_v = [g.index_select(0, kd) for g in gen_v]
            hists = [hh.index_select(0, kd) for hh in hists]
            pmask = pmask.index_select(0, kd)
            lengths_d = lengths_d.index_select(0, kd)
            A = len(active)
        width = int(alive_rows.sum(dim=1).max())
        if width <= m * shrink:  # drop finished rows: each problem's live rows first, then padding
            pos = torch.sort((~alive_rows).to(torch.int8), dim=1, stable=True).indices[:, :width]
            a = ar[:A]
            slot, tok, logits = slot.gather(1, pos), tok.gather(1, pos), logits[a, pos]
            ad, pd = a.to(device), pos.to(device)  # both indices on the caches' device
            gen_k = [_take(g, ad, pd, t) for g in gen_k]
            gen_v = [_take(g, ad, pd, t) for g in gen_v]
            hists = [hh[ad, pd] for hh in hists]
            m = width
        # one decoding step for all A*m rows
        # a problem's rows share their position: one table row per problem, repeated per row
        cos, sin = rope_tables(cfg, (lengths_d + t).view(A, 1))  # (A, 1, hd)
        cos, sin = cos.repeat_interleave(m, dim=0), sin.repeat_interleave(m, dim=0)  # (A*m, 1, hd)
        pad = ~pmask.view(A, 1, 1, 1, -1)
        x = model.model.embed_tokens(tok.to(device).view(A * m, 1))  # (R, 1, d)
        for li, layer in enumerate(model.model.layers):
            h = layer.input_layernorm(x)
            if cfg.canon:
                h, hists[2 * li] = _canon_step(layer.canon_attn, h, hists[2 * li], A, m)
            q, k, v = layer.self_attn.qkv(h, cos, sin)  # (R, H, 1, hd), (R, kv, 1, hd)
            gen_k[li][:, :, :, t] = k.view(A, m, kv, hd)
            gen_v[li][:, :, :, t] = v.view(A, m, kv, hd)
            qg = q.view(A, m, kv, rep, hd)
            pk, pv = prompt_kv[li]  # (A, kv, L, hd)
            s_p = torch.einsum("ankrd,akld->ankrl", qg, pk) * scale
            s_p = s_p.masked_fill(pad, float("-inf"))
            gk, gv = gen_k[li][:, :, :, : t + 1], gen_v[li][:, :, :, : t + 1]
            s_g = torch.einsum("ankrd,anktd->ankrt", qg, gk) * scale
            w = torch.softmax(torch.cat([s_p, s_g], dim=-1), dim=-1)
            y = torch.einsum("ankrl,akld->ankrd", w[..., :L], pv) + torch.einsum(
                "ankrt,anktd->ankrd", w[..., L:], gv
            )
            x = x + layer.self_attn.o_proj(y.reshape(A * m, 1, -1))
            h = layer.post_attention_layernorm(x)
            if cfg.canon:
                h, hists[2 * li + 1] = _canon_step(layer.canon_mlp, h, hists[2 * li + 1], A, m)
            x = x + layer.mlp(h)
        logits = model.lm_head(model.model.norm(x)).view(A, m, -1)
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
) -> list[Samples]:
    """n samples for each prompt. Problems are grouped by prompt length into chunks of about
    ``batch_rows`` rows; with n > batch_rows a problem's samples are split across chunks. ``shrink``
    only sets how eagerly finished rows are dropped (0 never): the samples do not depend on it."""
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
    results: list[list[Samples]] = [[] for _ in prompts]
    for off, m in pieces:
        for c in range(0, len(order), group):
            idx = order[c : c + group]
            # each problem stops at its own room in the model's positions, not the longest prompt's
            caps = [max(1, min(max_new_tokens, limit - len(prompts[i]))) for i in idx]
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
            for i, s in zip(idx, chunk):
                results[i].append(s)
            if on_chunk is not None:
                on_chunk(sum(len(s.tokens) for s in chunk), sum(len(t) for s in chunk for t in s.tokens))
    return [
        Samples([t for s in rs for t in s.tokens], [b for s in rs for b in s.truncated]) for rs in results
    ]


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
