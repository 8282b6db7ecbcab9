"""Where the training step's time goes, and the MFU it could reach: GEMMs vs causal attention.

    python benchmarks/bench_attention.py [--threads 2]

Times, on the default model shape (params.yaml `model`, `train_defaults` batch x seq_len):
  1. one whole training step (forward, backward, AdamW), as the trainer runs it;
  2. the step's matrix products alone (every Linear: forward, input and weight gradients);
  3. causal attention alone (forward + backward, all layers) with PyTorch's kernels: SDPA flash
     (what the model uses), SDPA math, and query blocks over their causal prefix with plain `bmm`;
     and, for reference, flash at head_dim 64 (half the heads, same width);
  4. the decoder's generated-key attention (one `bmm` per row, as the sampler runs it) against this
     machine's memory copy bandwidth.
Then prints the MFU measured and the MFU the step would reach with each attention variant, and with
attention as fast per FLOP as the GEMMs. MFU is against the measured fp32 peak (sgemm 2048^3), with the
trainer's FLOP count (`interplay.train.flops_per_token`).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench_model import (  # this folder is on sys.path when run as a script
    model_config,
    peak_flops,
    train_step,
)
from interplay import model as M
from interplay.compute import flops_per_token


def best_of(fn, reps: int = 5, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``reps`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def gemm_seconds(cfg: M.ModelConfig, rows: int) -> tuple[float, float]:
    """(seconds, FLOPs) of every Linear's three products (y = x W^T, dx = dy W, dW = dy^T x)."""
    hd = cfg.head_dim
    shapes = [
        (cfg.d_model, cfg.n_head * hd),  # q
        (cfg.d_model, cfg.n_kv_head * hd),  # k
        (cfg.d_model, cfg.n_kv_head * hd),  # v
        (cfg.n_head * hd, cfg.d_model),  # o
        (cfg.d_model, cfg.d_ff),  # gate
        (cfg.d_model, cfg.d_ff),  # up
        (cfg.d_ff, cfg.d_model),  # down
    ] * cfg.n_layer + [(cfg.d_model, cfg.vocab_size)]  # lm_head
    total, flops = 0.0, 0.0
    for fan_in, fan_out in shapes:
        x, w, dy = torch.randn(rows, fan_in), torch.randn(fan_out, fan_in), torch.randn(rows, fan_out)
        total += best_of(lambda x=x, w=w, dy=dy: (x @ w.t(), dy @ w, dy.t() @ x))
        flops += 3 * 2 * rows * fan_in * fan_out
    return total, flops


def attention_seconds(batch: int, heads: int, kv_heads: int, seq: int, hd: int, kind: str) -> float:
    """Forward + backward of one layer's causal attention (GQA keys repeated as the model does)."""
    torch.manual_seed(0)
    q = torch.randn(batch, heads, seq, hd, requires_grad=True)
    k = torch.randn(batch, kv_heads, seq, hd, requires_grad=True)
    v = torch.randn(batch, kv_heads, seq, hd, requires_grad=True)
    mask = torch.full((seq, seq), float("-inf")).triu(1)
    rep = heads // kv_heads

    def fwd():
        kk, vv = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if kind == "flash":
            return F.scaled_dot_product_attention(q, kk, vv, is_causal=True)
        if kind == "math":
            with sdpa_kernel(SDPBackend.MATH):
                return F.scaled_dot_product_attention(q, kk, vv, is_causal=True)
        nb = 8  # blocked: each query block attends to its causal prefix only
        bs, out = seq // nb, []
        for i in range(nb):
            s = q[:, :, i * bs : (i + 1) * bs] @ kk[:, :, : (i + 1) * bs].transpose(-1, -2) * hd**-0.5
            s = s + mask[i * bs : (i + 1) * bs, : (i + 1) * bs]
            out.append(torch.softmax(s, -1) @ vv[:, :, : (i + 1) * bs])
        return torch.cat(out, 2)

    g = torch.randn(batch, heads, seq, hd)
    return best_of(lambda: fwd().backward(g))


def decode_attention(rows: int, kv_heads: int, rep: int, hd: int, t: int) -> tuple[float, float]:
    """(seconds, bytes of K cache read) of the sampler's generated-key scores at step t."""
    q = torch.randn(rows * kv_heads, rep, hd)
    k = torch.randn(rows * kv_heads, t, hd)
    return best_of(lambda: torch.bmm(q, k.transpose(1, 2)), reps=9), k.numel() * 4


def copy_bandwidth() -> float:
    a = torch.randn(64 * 2**20)
    b = torch.empty_like(a)
    return 2 * a.numel() * 4 / best_of(lambda: b.copy_(a), reps=7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, p = model_config()
    batch, seq = p["train_defaults"]["batch_size"], p["train_defaults"]["seq_len"]
    tokens = batch * seq
    fpt = flops_per_token(cfg, seq)
    attn_flops = (fpt - flops_per_token(cfg, 0)) * tokens  # the trainer's causal-attention share
    peak = peak_flops()
    step = best_of(train_step(cfg, batch, seq), reps=7)
    gemm, gemm_flops = gemm_seconds(cfg, tokens)
    hd = cfg.head_dim
    attn = {
        kind: cfg.n_layer * attention_seconds(batch, cfg.n_head, cfg.n_kv_head, seq, hd, kind)
        for kind in ("flash", "math", "blocked")
    }
    h64 = max(1, cfg.d_model // 64)
    attn64 = cfg.n_layer * attention_seconds(batch, h64, max(1, h64 // 2), seq, cfg.d_model // h64, "flash")
    mfu = tokens * fpt / step / peak
    print(
        f"model {cfg.n_layer}x{cfg.d_model}, {cfg.n_head} heads of {hd} ({cfg.n_kv_head} KV), batch "
        f"{batch} x {seq}, {args.threads} threads; fp32 peak {peak / 1e9:.0f} GFLOP/s"
    )
    print("| part (whole step = forward + backward) | seconds/step | GFLOP/s | share of step |")
    print("|---|---|---|---|")
    print(f"| training step (AdamW included) | {step:.3f} | {tokens * fpt / step / 1e9:.0f} | 100% |")
    print(f"| matrix products alone | {gemm:.3f} | {gemm_flops / gemm / 1e9:.0f} | {gemm / step:.0%} |")
    for kind, s in attn.items():
        rate = attn_flops / s / 1e9
        print(f"| causal attention, {kind} | {s:.3f} | {rate:.0f} (counted FLOPs) | {s / step:.0%} |")
    print(
        f"| causal attention, flash at head_dim {cfg.d_model // h64} ({h64} heads) | {attn64:.3f} | "
        f"{attn_flops / attn64 / 1e9:.0f} | - |"
    )
    rest = step - gemm - attn["flash"]
    print(f"| everything else (norms, SwiGLU, loss, AdamW, copies) | {rest:.3f} | - | {rest / step:.0%} |")
    print(f"MFU measured: {mfu:.0%}")
    for kind in ("math", "blocked"):
        s = step - attn["flash"] + attn[kind]
        print(f"MFU with attention '{kind}' instead of flash: {tokens * fpt / s / peak:.0%}")
    s = step - attn["flash"] + attn_flops * gemm / gemm_flops
    print(f"MFU if attention ran as fast per FLOP as the GEMMs: {tokens * fpt / s / peak:.0%}")
    s = step - attn["flash"]
    print(f"MFU if attention took no time at all: {tokens * fpt / s / peak:.0%}")
    bw = copy_bandwidth()
    rep = cfg.n_head // cfg.n_kv_head
    print(f"memory copy bandwidth (read + write, 256 MB): {bw / 1e9:.1f} GB/s")
    for t in (32, 128, 256):
        s, nbytes = decode_attention(512, cfg.n_kv_head, rep, hd, t)
        print(
            f"sampler generated-key scores, 512 rows, step {t}: {s * 1e3:.2f} ms, K cache read at "
            f"{nbytes / s / 1e9:.1f} GB/s, {2 * 512 * cfg.n_head * hd * t / s / 1e9:.0f} GFLOP/s"
        )


if __name__ == "__main__":
    main()
