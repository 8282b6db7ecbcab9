"""What a model shape costs in wall time: training and sampling throughput of several shapes, side by
side in one process (rounds alternate the shapes, so a busy or drifting machine slows all alike).

    python benchmarks/bench_shapes.py [--threads 1] [--rounds 5] [--shape 'name:key=value,...' ...]

Default shapes: params.yaml's model, the same with Canon layers, and the deeper-narrower 8 x 96 and
6 x 112 of the competent-base ablation. Training: batch 8 x 512 random tokens, forward + loss +
backward + AdamW (``bench_model.train_step``). Sampling: ``sampling.generate`` of 64 samples for
each of 2 prompts of 160 tokens, 96 new tokens, no stop.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from bench_model import model_config, train_step
from interplay import model as M
from interplay.sampling import generate

DEFAULT_SHAPES = [
    "control:",
    "canon:canon=true",
    "8x96:n_layer=8,d_model=96,d_ff=288",
    "6x112:n_layer=6,d_model=112,d_ff=336",
]


def parse_shape(spec: str, base: M.ModelConfig) -> tuple[str, M.ModelConfig]:
    name, _, body = spec.partition(":")
    kw = {}
    for item in filter(None, body.split(",")):
        k, _, v = item.partition("=")
        kw[k] = v == "true" if v in ("true", "false") else int(v)
    return name, dataclasses.replace(base, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4, help="training steps per round and shape")
    ap.add_argument("--shape", action="append", help="name:key=value,... over params.yaml's model")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base, _ = model_config()
    shapes = dict(parse_shape(s, base) for s in (args.shape or DEFAULT_SHAPES))
    steps = {n: train_step(cfg, 8, 512) for n, cfg in shapes.items()}
    samplers = {}
    for n, cfg in shapes.items():
        torch.manual_seed(0)
        samplers[n] = M.Qwen2(cfg).eval()
    prompts = [list(range(10, 170)), list(range(20, 180))]
    train_s: dict[str, list[float]] = {n: [] for n in shapes}
    sample_s: dict[str, list[float]] = {n: [] for n in shapes}
    for n in shapes:  # warm-up
        steps[n]()
    for _ in range(args.rounds):
        for n in shapes:
            t = time.perf_counter()
            for _ in range(args.steps):
                steps[n]()
            train_s[n].append((time.perf_counter() - t) / args.steps)
            t = time.perf_counter()
            generate(samplers[n], prompts, 64, temperature=1.0, max_new_tokens=96, seed=0)
            sample_s[n].append(time.perf_counter() - t)
    c = next(iter(shapes))
    t_c = statistics.median(train_s[c])
    g_c = statistics.median(sample_s[c])
    print(f"{args.threads} thread(s), {args.rounds} rounds, medians; relative to '{c}'")
    print("| shape | params | train tok/s | train vs control | sampled tok/s | sampling vs control |")
    print("|---|---|---|---|---|---|")
    for n, cfg in shapes.items():
        t, g = statistics.median(train_s[n]), statistics.median(sample_s[n])
        print(
            f"| {n} | {cfg.n_params() / 1e6:.2f}M | {8 * 512 / t:,.0f} | {t_c / t:.2f}x | "
            f"{2 * 64 * 96 / g:,.0f} | {g_c / g:.2f}x |"
        )


if __name__ == "__main__":
    main()
