"""One pre-training step, ours against Hugging Face ``Qwen2ForCausalLM`` and against our own earlier
step, side by side in one process (rounds alternate the variants, so a busy or drifting machine slows
all alike).

    python benchmarks/bench_train_step.py [--threads 2] [--rounds 5]

It prints each variant's median step, the ratio of the medians, and the median of each round's own
HF / ours ratio (the machine's speed drifts from round to round; within a round it moves both).

The batch is the pre-training shape (params.yaml's ``model`` and ``train_defaults``: 8 x 512 tokens)
with packed documents of 100-220 tokens whose last 35% are the loss-masked completion (pre-training
reads about a third of its positions). Every variant starts from the same weights and takes a full
step: forward, cross-entropy, backward, gradient clipping, AdamW (the same parameter groups).

- ``ours``: ``train.train_step``: the LM head only at the loss positions, multi-tensor AdamW.
- ``ours, before``: the step as it was: the LM head at every position, per-parameter AdamW.
- ``ours, causal`` / ``HF, causal``: the same step on one causal document per row (Hugging Face's
  model takes no packed-document mask), the like-for-like comparison; HF's loss is the same masked
  cross-entropy over its full logits.
- ``ours, doc mask``: as pre-training runs by default (``doc_mask: true``), a block-diagonal mask.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from bench_model import model_config
from interplay import model as M
from interplay import train as TR
from interplay.dist import Dist


def batch(cfg: M.ModelConfig, rows: int, seq: int, doc_mask: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, cfg.vocab_size, (rows, seq), generator=g)
    pos = torch.zeros(rows, seq, dtype=torch.long)
    doc = torch.zeros(rows, seq, dtype=torch.long)
    lm = torch.zeros(rows, seq, dtype=torch.bool)
    for b in range(rows):
        t = d = 0
        while t < seq:
            n = min(int(torch.randint(100, 221, (1,), generator=g)), seq - t)
            pos[b, t : t + n], doc[b, t : t + n] = torch.arange(n), d
            lm[b, t + int(0.65 * n) : t + n] = True
            t, d = t + n, d + 1
    out = {"idx": idx, "targets": torch.roll(idx, -1, dims=1), "loss_mask": lm}
    if doc_mask:
        causal = torch.tril(torch.ones(seq, seq, dtype=torch.bool))
        out["positions"], out["mask"] = pos, ((doc[:, :, None] == doc[:, None, :]) & causal)[:, None]
    return out


def full_logits_step(logits_of):
    """A step that takes the model's logits at every position, then the loss mask (our step before
    the LM head moved to the loss positions, and HF's): ``logits_of(net, batch)`` gives the logits."""

    def step(net, params, opt, b, lr, cfg, dd, autocast):
        for grp in opt.param_groups:
            grp["lr"] = lr
        logits = logits_of(net, b)
        lm = b["loss_mask"]
        loss = F.cross_entropy(logits.float()[lm], b["targets"][lm], reduction="sum") / lm.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()

    return step


before_step = full_logits_step(lambda net, b: net(b["idx"], b.get("positions"), b.get("mask")))
hf_step = full_logits_step(lambda net, b: net(input_ids=b["idx"]).logits)


def hf_model(cfg: M.ModelConfig, ours: M.Qwen2):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    keep = {k: v for k, v in cfg.to_hf(2, 3, 1).items() if k not in ("interplay", "architectures")}
    hf = Qwen2ForCausalLM(Qwen2Config(**keep, attn_implementation="sdpa"))
    hf.load_state_dict(M.state_for_save(ours) | {"lm_head.weight": ours.lm_head.weight}, strict=False)
    return hf.train()


def variant(kind: str, cfg: M.ModelConfig, tcfg: TR.TrainConfig):
    """A fresh model (seed 0) and optimizer taking full steps: ``step(batch)``. ``kind``: "ours"
    (``train.train_step``), "before" (full logits, per-parameter AdamW) or "hf"."""
    torch.manual_seed(0)
    wd, betas = tcfg.weight_decay, tuple(tcfg.betas)
    ours = M.Qwen2(cfg)
    net = hf_model(cfg, ours) if kind == "hf" else ours
    params = list(net.parameters())
    if kind == "before":
        dec = [q for q in params if q.dim() >= 2]
        rest = [q for q in params if q.dim() < 2]
        groups = [{"params": dec, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=1e-3, betas=betas, foreach=False, fused=False)
    else:
        opt = M.adamw(net, 1e-3, betas, wd)
    step = {"hf": hf_step, "before": before_step}.get(kind, TR.train_step)
    dd = Dist()
    return lambda b: step(net, params, opt, b, 1e-3, tcfg, dd, nullcontext())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, p = model_config()
    tcfg = TR.config_from_params({"dataset": "pretrain"}, "train_defaults", p["train_defaults"])
    rows, seq = tcfg.batch_size, tcfg.seq_len
    packed, causal = batch(cfg, rows, seq, True), batch(cfg, rows, seq, False)
    runs = {
        "ours, doc mask": (variant("ours", cfg, tcfg), packed),
        "ours, before, doc mask": (variant("before", cfg, tcfg), packed),
        "ours, causal": (variant("ours", cfg, tcfg), causal),
        "ours, before, causal": (variant("before", cfg, tcfg), causal),
        "HF, causal": (variant("hf", cfg, tcfg), causal),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for fn, b in runs.values():  # warm-up
        fn(b)
    for _ in range(args.rounds):
        for name, (fn, b) in runs.items():
            t0 = time.perf_counter()
            fn(b)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{rows} x {seq} tokens, {cfg.n_layer} layers x {cfg.d_model}, vocab {cfg.vocab_size}, "
        f"{args.threads} threads, median of {args.rounds} alternating rounds"
    )
    for k, s in med.items():
        print(f"  {k:24s} {s * 1000:8.1f} ms/step  {rows * seq / s:8,.0f} tokens/s")
    print(
        f"ours vs before: {med['ours, before, doc mask'] / med['ours, doc mask']:.2f}x (doc mask), "
        f"{med['ours, before, causal'] / med['ours, causal']:.2f}x (causal); "
        f"ours vs HF (causal, same batch): {med['HF, causal'] / med['ours, causal']:.2f}x"
    )
    # each round's own ratio: a machine whose speed drifts between rounds moves both steps of a round
    per_round = sorted(h / o for h, o in zip(times["HF, causal"], times["ours, causal"]))
    print(
        f"ours vs HF, round by round: median {statistics.median(per_round):.2f}x "
        f"(range {per_round[0]:.2f}-{per_round[-1]:.2f}x over {len(per_round)} rounds)"
    )


if __name__ == "__main__":
    main()
