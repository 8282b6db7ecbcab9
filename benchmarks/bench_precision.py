"""fp32 against bf16 autocast on this CPU, side by side in one process (rounds alternate the two):
a matrix product, the pre-training step, the RL update and the sampler.

    python benchmarks/bench_precision.py [--threads 2] [--rounds 5] [--init data/models/base]

``precision: bf16`` (``train_defaults`` / ``rl.defaults``) runs the training forward and the RL
update's forwards under ``torch.autocast("cpu", torch.bfloat16)``; this prints what it buys here.

- matmul: (2048 x 256) @ (256 x 1024), GFLOP/s.
- pre-training step: ``train.train_step`` on the pre-training shape (params.yaml's ``model`` and
  ``train_defaults``, packed documents with a doc mask, as ``bench_train_step.py`` builds them).
- RL update: ``rl._update`` on one step of ``rl.defaults``' shape (32 prompts of 150-260 tokens x 6
  completions of 80-200 random tokens), policy and reference from ``--init`` (else a fresh model).
- sampler: the evaluation workload (``bench_model.real_workload``'s prompts, 3 per op at ops 2, 4, 6,
  8, 10, 128 samples) with the whole forward under autocast, only with ``--init``. Training does not
  use this (rollouts and evaluations sample in fp32); it shows what a bf16 sampler would buy.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

from bench_model import eval_prompts, model_config, sample_ours
from bench_train_step import batch
from interplay import model as M
from interplay import rl
from interplay import train as TR
from interplay.dist import Dist
from interplay.runtime import autocast


def matmul(precision: str):
    dt = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(2048, 256, dtype=dt), torch.randn(256, 1024, dtype=dt)
    return lambda: [a @ b for _ in range(10)]


def train_step(precision: str, cfg, tcfg, packed):
    torch.manual_seed(0)
    net = M.Qwen2(cfg)
    params, opt = list(net.parameters()), M.adamw(net, 1e-3, tuple(tcfg.betas), tcfg.weight_decay)
    ac = autocast("cpu", precision)
    return lambda: TR.train_step(net, params, opt, packed, 1e-3, tcfg, Dist(), ac)


def rl_update(precision: str, base: M.Qwen2):
    g = torch.Generator().manual_seed(1)
    V, seqs = base.cfg.vocab_size, []
    for _ in range(32):
        prompt = torch.randint(3, V, (int(torch.randint(150, 261, (1,), generator=g)),), generator=g)
        for _ in range(6):
            n = int(torch.randint(80, 201, (1,), generator=g))
            seqs.append((prompt.tolist(), torch.randint(3, V, (n,), generator=g).tolist()))
    advs = torch.randn(len(seqs), generator=g).tolist()
    policy, ref = copy.deepcopy(base), copy.deepcopy(base).eval()
    opt = M.adamw(policy, 1e-4, (0.9, 0.95), 0.1)
    cfg = rl.RLConfig(dataset="d", init="i", precision=precision)
    return lambda: rl._update(policy, policy, ref, opt, seqs, advs, cfg, "cpu")


def sampler(precision: str, model_dir: str):
    prompts, keys, stop = eval_prompts(model_dir, "data/datasets/eval.parquet", 3, [2, 4, 6, 8, 10])
    model = M.load(model_dir).eval()
    ctx = autocast("cpu", precision)

    def run():
        with ctx:
            sample_ours(model, prompts, keys, stop)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--init", default=None, help="a trained model directory (data/models/base)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, p = model_config()
    tcfg = TR.config_from_params({"dataset": "pretrain"}, "train_defaults", p["train_defaults"])
    packed = batch(cfg, tcfg.batch_size, tcfg.seq_len, True)
    base = M.load(args.init) if args.init else M.Qwen2(cfg)
    work = {
        "matmul 2048x256x1024 (x10)": lambda pr: matmul(pr),
        "pre-training step": lambda pr: train_step(pr, cfg, tcfg, packed),
        "RL update (32 x 6)": lambda pr: rl_update(pr, base),
    }
    if args.init and Path("data/datasets/eval.parquet").exists():
        work["sampler (15 x 128)"] = lambda pr: sampler(pr, args.init)
    print(f"{args.threads} threads, median of {args.rounds} alternating rounds after one warm-up")
    for name, make in work.items():
        fns = {pr: make(pr) for pr in ("fp32", "bf16")}
        times: dict[str, list[float]] = {pr: [] for pr in fns}
        for fn in fns.values():
            fn()
        for _ in range(args.rounds):
            for pr, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[pr].append(time.perf_counter() - t)
        med = {pr: statistics.median(v) for pr, v in times.items()}
        extra = ""
        if name.startswith("matmul"):
            fl = 10 * 2 * 2048 * 256 * 1024
            extra = f"  ({fl / med['fp32'] / 1e9:,.0f} vs {fl / med['bf16'] / 1e9:,.0f} GFLOP/s)"
        print(
            f"  {name:28s} fp32 {med['fp32'] * 1000:8.1f} ms  bf16 {med['bf16'] * 1000:8.1f} ms  "
            f"bf16 {med['fp32'] / med['bf16']:.2f}x{extra}"
        )


if __name__ == "__main__":
    main()
