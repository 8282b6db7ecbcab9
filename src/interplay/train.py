"""Next-token training for pre- and mid-training (one trainer, two phases).

Packed blocks, AdamW, linear warmup then cosine decay to ``min_lr`` (the decay may start late:
``decay_start``), gradient clipping, weight decay on matrices. A run resumes from its last
checkpoint after a kill and ends bit-identical to an uninterrupted run on CPU: the batch of step s
is a pure function of (seed, s), and model, optimizer and step are saved together (safetensors).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from interplay import model as M
from interplay.checkpoint import Harness, RunPaths, fingerprint
from interplay.compute import flops_per_token
from interplay.packing import Blocks, batch_tensors
from interplay.params import MAX_THREADS, ParamsError, blame, need, option, parse
from interplay.runtime import PRECISION_DOC, PRECISIONS, autocast, resolve_device

# fp32 peak per CPU thread: MKL sgemm 2048^3 reaches 183-191 GFLOP/s on 2 threads on this machine
# (`python benchmarks/bench_model.py` prints it; an FMA loop undercounts it: ``docs/cpu-scale.md``).
CPU_PEAK_FLOPS_PER_THREAD = 95e9
MAX_TOKENS = 10**12  # a run beyond this is a typo, not an experiment (the paper: 10B tokens)


@dataclass(frozen=True)
class TrainConfig:
    """One pre- or mid-training run (``params.yaml``: a run's entry over ``train_defaults``)."""

    dataset: str = option(doc="the training dataset (a name under datasets)")
    init: str | None = option(None, doc="a run whose weights start this one; none: random init")
    tokens: int = option(1_000_000, lo=1, doc="budget in token slots (batch_size x seq_len per step)")
    batch_size: int = option(32, lo=1, hi=1 << 20, doc="sequences per step")
    seq_len: int = option(512, lo=1, hi=1 << 20, doc="tokens per packed sequence")
    lr: float = option(2e-3, lo=0.0, doc="peak learning rate")
    min_lr: float = option(2e-4, lo=0.0, doc="learning rate at the last step")
    warmup: float = option(0.05, lo=0.0, hi=1.0, doc="fraction of steps of linear warmup")
    decay_start: float = option(0.0, lo=0.0, hi=1.0, doc="fraction of steps where the cosine starts")
    weight_decay: float = option(0.1, lo=0.0, doc="AdamW decay of matrices")
    grad_clip: float = option(1.0, lo=0.0, doc="gradient norm clip")
    betas: tuple[float, float] = option((0.9, 0.95), lo=0.0, hi=1.0, doc="AdamW betas")
    seed: int = option(0, lo=0, doc="init and batch order")
    loss_on: str = option("completion", choices=("completion", "all"), doc="tokens the loss is taken on")
    doc_mask: bool = option(True, doc="block-diagonal attention inside packed blocks")
    checkpoint_every: int = option(200, lo=1, doc="steps between resume states")
    ladder: tuple[float, ...] = option((), lo=0.0, hi=1.0, doc="fractions of the budget kept as checkpoints")
    log_every: int = option(10, lo=1, doc="steps between logged metrics")
    threads: int = option(2, lo=1, hi=MAX_THREADS, doc="torch CPU threads")
    device: str = option("auto", choices=("auto", "cpu", "cuda"), doc="auto: CUDA when present")
    precision: str = option("auto", choices=PRECISIONS, doc=PRECISION_DOC)

    @property
    def steps(self) -> int:
        return max(1, self.tokens // (self.batch_size * self.seq_len))

    def ladder_steps(self) -> list[int]:
        return sorted({max(1, round(f * self.steps)) for f in self.ladder})


def config_from_params(
    d: dict[str, Any], key: str, defaults: dict[str, Any] | None = None, defaults_key: str = "train_defaults"
) -> TrainConfig:
    """A run's entry merged over shared defaults, validated. Errors name ``key.<field>``, or
    ``defaults_key.<field>`` when the field's value came from the defaults."""
    try:
        return _config_from_merged({**(defaults or {}), **(d or {})}, key)
    except ParamsError as err:
        raise blame(err, key, d, defaults_key) from None


def _config_from_merged(merged: dict[str, Any], key: str) -> TrainConfig:
    cfg = parse(TrainConfig, merged, key)
    need(cfg.min_lr <= cfg.lr, f"{key}.min_lr", f"{cfg.min_lr} is above lr {cfg.lr}")
    need(
        cfg.tokens <= MAX_TOKENS,
        f"{key}.tokens",
        f"{cfg.tokens:,} is over 100x the paper's 10B-token pre-training (limit {MAX_TOKENS:,}): about "
        f"{cfg.tokens / 11e3 / 3600:,.0f} h at this project's CPU rate (11k tokens/s), "
        f"{cfg.tokens / 1e6 / 3600:,.0f} h at 1M tokens/s",
    )
    return cfg


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warmup, flat until ``decay_start``, then cosine to ``min_lr`` at the last step."""
    n = cfg.steps
    warm = max(1, round(cfg.warmup * n)) if cfg.warmup > 0 else 0
    if step < warm:
        return cfg.lr * (step + 1) / warm
    start = max(warm, round(cfg.decay_start * n))
    if step < start:
        return cfg.lr
    frac = (step - start) / max(1, n - 1 - start)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, frac)))


def batch_rows(n_blocks: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Block indices of one step: epochs of seeded permutations, concatenated (pure function)."""
    start = step * batch_size
    rows = []
    while len(rows) < batch_size:
        epoch, off = divmod(start + len(rows), n_blocks)
        perm = np.random.default_rng([seed, epoch]).permutation(n_blocks)
        take = min(batch_size - len(rows), n_blocks - off)
        rows.extend(perm[off : off + take].tolist())
    return np.asarray(rows, dtype=np.int64)


# ----------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    steps: int
    tokens_seen: int
    real_tokens: int
    seconds: float
    final_loss: float
    tok_per_s: float
    mfu: float
    flops: float
    resumed_from: int


def train(
    cfg: TrainConfig,
    model_cfg: M.ModelConfig,
    blocks: Blocks,
    paths: RunPaths,
    init_dir: Path | None = None,
    inputs_fingerprint: str = "",
    peak_flops: float | None = None,
    stop_after: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume) a run. ``stop_after`` ends early after that many steps (tests: a "kill").

    Under ``torchrun`` every rank takes its share of each global batch (DDP); the loss is normalised
    by the global number of target tokens, so gradients equal the single-process ones. Only rank 0
    logs and writes. ``wall_seconds`` sums every segment of a resumed run.

    Kept as one function (set-up, then the step loop: batch -> ``train_step`` -> log -> ladder
    checkpoint -> resume state, then the summary) so the order resume depends on reads in one place.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    from interplay import dist as D

    device = resolve_device(cfg.device)
    dd = D.setup(device.type)
    device = D.device_for(dd, device)
    need(
        cfg.batch_size % dd.world == 0, "batch_size", f"{cfg.batch_size} is not divisible by {dd.world} ranks"
    )
    model, opt = _model_and_optimizer(cfg, model_cfg, init_dir, device)
    fp = fingerprint(asdict(cfg), asdict(model_cfg), inputs_fingerprint, dd.world)
    harness = Harness(paths, fp, model, opt, dd.main, cfg.steps, "train", progress)
    start = harness.start
    D.barrier(dd)
    net = DDP(model, device_ids=[dd.local_rank] if device.type == "cuda" else None) if dd.enabled else model

    fpt = flops_per_token(model_cfg, cfg.seq_len)
    peak = (peak_flops or _peak_flops(device)) * dd.world
    ladder = set(cfg.ladder_steps())
    ac = autocast(device, cfg.precision)
    params = list(model.parameters())
    model.train()
    t_start = time.perf_counter()
    before = float(harness.meta.get("seconds", 0.0))  # wall seconds of the segments before a resume
    t_log, tok_log = t_start, 0
    loss_val = float("nan")
    postfix: dict[str, str] = {}
    for step in range(start, cfg.steps):
        rows = batch_rows(len(blocks), cfg.batch_size, cfg.seed, step)[dd.rank :: dd.world]
        lr = lr_at(cfg, step)
        batch = batch_tensors(blocks, rows, cfg.doc_mask, device)
        loss_val, gnorm = train_step(net, params, opt, batch, lr, cfg, dd, ac)
        tok_log += cfg.batch_size * cfg.seq_len
        done = step + 1
        now = time.perf_counter()
        tps = tok_log / max(now - t_log, 1e-9)
        metrics = {"train/loss": loss_val, "train/lr": lr, "train/grad_norm": gnorm}
        metrics |= {"perf/tokens_per_s": tps, "perf/mfu": tps * fpt / peak}
        if harness.log(done, metrics, cfg.log_every):
            postfix = {"loss": f"{loss_val:.3f}", "tok_s": f"{tps:,.0f}", "lr": f"{lr:.2e}"}
            t_log, tok_log = now, 0
        harness.tick(**postfix)
        if dd.main and done in ladder:  # the performance ladder's intermediate checkpoints
            extra = {"step": done, "fraction": done / cfg.steps}
            M.save(model, paths.resume / "ladder" / f"step{done:06d}", paths.tokenizer, extra=extra)
        meta = {"seconds": before + time.perf_counter() - t_start}
        if harness.checkpoint(done, cfg.checkpoint_every, stop_after, meta):
            D.barrier(dd)
            return TrainResult(done, 0, 0, 0.0, loss_val, 0.0, 0.0, 0.0, start)
    harness.bar.close()
    segment = time.perf_counter() - t_start
    tps = (cfg.steps - start) * cfg.batch_size * cfg.seq_len / max(segment, 1e-9)  # this segment's rate
    tokens = cfg.steps * cfg.batch_size * cfg.seq_len
    flops = 6.0 * model_cfg.n_params(embedding=False) * tokens
    result = TrainResult(
        cfg.steps,
        tokens,
        round(tokens * blocks.fill),
        before + segment,
        loss_val,
        tps,
        tps * fpt / peak,
        flops,
        start,
    )
    harness.finish(
        _summary(result, model_cfg, cfg, blocks, dd.world),
        paths.tokenizer,
        {"step": cfg.steps, "fraction": 1.0},
    )
    D.barrier(dd)
    return result


def _model_and_optimizer(cfg: TrainConfig, model_cfg: M.ModelConfig, init_dir: Path | None, device):
    """The model (seeded init, or an earlier run's weights) on ``device``, and its AdamW."""
    torch.manual_seed(cfg.seed)
    model = M.Qwen2(model_cfg)
    if init_dir is not None:
        M.load_weights(model, init_dir / "model.safetensors")
    model.to(device)
    return model, M.adamw(model, cfg.lr, cfg.betas, cfg.weight_decay)


def _peak_flops(device: torch.device) -> float:
    """The MFU denominator: the CPU's per-thread peak x threads, or an H100's bf16 dense peak."""
    return CPU_PEAK_FLOPS_PER_THREAD * torch.get_num_threads() if device.type == "cpu" else 989e12


def train_step(
    net, params: list, opt: torch.optim.Optimizer, batch: dict, lr: float, cfg: TrainConfig, dd, autocast
) -> tuple[float, float]:
    """One optimizer step: the forward (under ``autocast``), cross-entropy summed over the loss-masked
    targets and divided by their number over all ranks (so DDP's gradient average equals the
    single-process gradient), gradient clipping over ``params``, AdamW. Returns the batch's
    token-mean loss and the gradient norm before clipping."""
    from interplay import dist as D

    for g in opt.param_groups:
        g["lr"] = lr
    lm = batch["loss_mask"]
    with autocast:  # the LM head only where the loss reads
        logits = net(batch["idx"], batch.get("positions"), batch.get("mask"), where=lm)
    tok_sum = F.cross_entropy(logits.float(), batch["targets"][lm], reduction="sum")
    count = D.all_reduce_sum(lm.sum().to(torch.float64), dd)
    loss = tok_sum * dd.world / count.to(tok_sum.dtype)  # DDP averages over ranks
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    opt.step()
    return float(D.all_reduce_sum(tok_sum.detach().to(torch.float64), dd) / count), float(gnorm)


def _summary(r: TrainResult, model_cfg: M.ModelConfig, cfg: TrainConfig, blocks: Blocks, world: int) -> dict:
    """The run's metrics.json: what was trained, at what speed (the last segment's), for how long
    (``wall_seconds``: every segment of a resumed run summed)."""
    return {
        "final_loss": r.final_loss,
        "steps": r.steps,
        "tokens": r.tokens_seen,
        "tokens_per_s": r.tok_per_s,
        "mfu": r.mfu,
        "flops_6PT": r.flops,
        "params_non_embedding": model_cfg.n_params(embedding=False),
        "params": model_cfg.n_params(),
        "epochs": r.tokens_seen / max(1, len(blocks) * cfg.seq_len),
        "packing_fill": blocks.fill,
        "real_tokens": r.real_tokens,
        "wall_seconds": r.seconds,
        "world_size": world,
    }
