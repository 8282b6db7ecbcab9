"""What each remaining lever gives the pre-training step, one at a time and together, side by side
with Hugging Face ``Qwen2ForCausalLM`` in one process (rounds alternate the variants, so a busy or
drifting machine slows all alike).

    python benchmarks/bench_step_levers.py [--threads 2] [--rounds 7]

The step is ``interplay.train.train_step`` on the causal batch of ``bench_train_step.py`` (8 x 512,
the LM head at the loss positions, multi-tensor AdamW). A lever is applied by patching one method of
the model's classes for the duration of its own step only, so the variants share nothing but the
machine; none of them is in the model the pipeline trains. The levers:

- ``fused gate/up``: the SwiGLU's gate and up projections as one matrix product over their
  concatenated weights (same parameters, so checkpoints are unchanged);
- ``fused qkv``: the same for the query, key and value projections (with their biases);
- ``rms_norm``: ``torch.nn.functional.rms_norm`` in place of the norm written out in PyTorch ops;
- ``rope halves``: rotary embedding on the two halves of each head without building
  ``rotate_half``'s concatenated copy;
- ``sdpa gqa``: SDPA's own grouped-query attention (``enable_gqa``) instead of repeating each key
  and value head for its query heads.

Rounds rotate the order of the variants, so none always runs first.

Each forward is compared with the model's own on the same batch before timing: the printed maximum
absolute difference of the logits says whether the lever changes numerics (0 = bitwise identical).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from bench_model import model_config  # this folder is on sys.path when run as a script
from bench_train_step import batch, variant
from interplay import model as M
from interplay import train as TR


def _mlp_fused(self, x):
    h = F.linear(x, torch.cat([self.gate_proj.weight, self.up_proj.weight]))
    g, u = h.chunk(2, dim=-1)
    return self.down_proj(F.silu(g) * u)


def _qkv_fused(self, x, cos, sin):
    B, T, _ = x.shape
    c, hd = self.cfg, self.cfg.head_dim
    w = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
    b = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
    q, k, v = F.linear(x, w, b).split([c.n_head * hd, c.n_kv_head * hd, c.n_kv_head * hd], dim=-1)
    q = q.reshape(B, T, c.n_head, hd).transpose(1, 2)
    k = k.reshape(B, T, c.n_kv_head, hd).transpose(1, 2)
    v = v.reshape(B, T, c.n_kv_head, hd).transpose(1, 2)
    return M.apply_rope(q, cos, sin), M.apply_rope(k, cos, sin), v


def _rms_norm(self, x):
    return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def _rope_halves(x, cos, sin):
    if cos.dim() == 3:
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    c, s = cos[..., :h], sin[..., :h]  # both halves of the tables are equal (HF's layout)
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def _attn_gqa(self, x, cos, sin, mask=None, cache=None, layer: int = 0):
    B, T, _ = x.shape
    q, k, v = self.qkv(x, cos, sin)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None, enable_gqa=True)
    return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


LEVERS: dict[str, tuple[object, str, Callable]] = {
    "fused gate/up": (M.MLP, "forward", _mlp_fused),
    "fused qkv": (M.Attention, "qkv", _qkv_fused),
    "rms_norm": (M.RMSNorm, "forward", _rms_norm),
    "rope halves": (M, "apply_rope", _rope_halves),
    "sdpa gqa": (M.Attention, "forward", _attn_gqa),
}


@contextmanager
def patched(names: tuple[str, ...]):
    """The named levers in place for the duration of the block."""
    saved = [(LEVERS[n][0], LEVERS[n][1], getattr(LEVERS[n][0], LEVERS[n][1])) for n in names]
    for n in names:
        owner, attr, fn = LEVERS[n]
        setattr(owner, attr, fn)
    try:
        yield
    finally:
        for owner, attr, fn in saved:
            setattr(owner, attr, fn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, p = model_config()
    tcfg = TR.config_from_params({"dataset": "pretrain"}, "train_defaults", p["train_defaults"])
    b = batch(cfg, tcfg.batch_size, tcfg.seq_len, False)

    def ours(levers: tuple[str, ...]):
        step = variant("ours", cfg, tcfg)

        def patched_step():
            with patched(levers):
                step(b)

        return patched_step

    exact = ("rms_norm", "rope halves")  # the two levers whose gradients keep their bits
    variants: dict[str, tuple[str, ...]] = {"ours": ()} | {n: (n,) for n in LEVERS}
    variants |= {"norm+rope": exact, "norm+rope+gqa": (*exact, "sdpa gqa"), "all": tuple(LEVERS)}
    torch.manual_seed(0)
    ref = M.Qwen2(cfg).eval()
    with torch.no_grad():
        base_logits = ref(b["idx"])
        diffs = {}
        for name, levers in variants.items():
            with patched(levers):
                diffs[name] = float((ref(b["idx"]) - base_logits).abs().max())
    hf = variant("hf", cfg, tcfg)
    steps = {name: ours(levers) for name, levers in variants.items()} | {"HF": lambda: hf(b)}
    for fn in steps.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    names = list(steps)
    for r in range(args.rounds):  # each round starts one variant later: no variant always runs first
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = steps[name]
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{tcfg.batch_size} x {tcfg.seq_len} tokens (causal), {cfg.n_layer} layers x {cfg.d_model}, vocab "
        f"{cfg.vocab_size}, {args.threads} threads, median of {args.rounds} alternating rounds"
    )
    print(f"  {'variant':16s} {'ms/step':>8s} {'vs ours':>8s} {'vs HF':>7s}  max |logit diff| vs ours")
    for k, s in med.items():
        d = f"{diffs[k]:.1e}" if k in diffs else "-"
        print(f"  {k:16s} {s * 1000:8.1f} {med['ours'] / s:7.3f}x {med['HF'] / s:6.3f}x  {d}")


if __name__ == "__main__":
    main()
