"""Generator and verifier throughput on one core. Prints tables; numbers go to the README.

python benchmarks/bench_task.py [--per-op 60] [--tokens 1000000] [--problems 1000] [--cores 16]

Rates are per second of this process's CPU time (``time.process_time``), so they hold when other jobs
share the machine (the wall-clock rate is printed beside them). The last table runs ``data.generate``
(the dataset stage's own code) over every dataset of the paper profile (``profiles/paper.yaml``: its
task settings, ops, modes and splits), each scaled down, and projects the full-size generation time.
A split's problems are those whose prompt hash it owns (``task.splits``), so a split with a 15% share
generates about 6.7 op-matching problems per problem it keeps.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from pathlib import Path

import yaml

from interplay import data
from interplay.profile import combine
from interplay.task.generate import stream
from interplay.task.spec import TaskSpec, task_spec_from_params
from interplay.task.verify import score

ROOT = Path(__file__).resolve().parents[1]


def paper_profile(tokens: int, problems: int, cores: int) -> None:
    """problems/s per core of ``data.generate`` over every dataset of the paper profile, scaled down,
    and the full-size generation time that rate projects on ``cores`` cores."""
    p = combine(
        yaml.safe_load((ROOT / "params.yaml").read_text()),
        yaml.safe_load((ROOT / "profiles/paper.yaml").read_text()),
    )
    task = task_spec_from_params(p["task"])
    print(
        f"\n`data.generate` over the paper profile's datasets (its task settings, ops, modes, splits), each "
        f"scaled to {tokens:,} tokens or {problems:,} problems; one process; projected on {cores} cores"
    )
    print("| dataset | split | ops | full size | problems here | problems/s (CPU) | projected | hours |")
    print("|---|---|---|---|---|---|---|---|")
    total_h = 0.0
    for name, entry in p["datasets"].items():
        kind, full = next(iter(entry["size"].items()))
        spec = data.dataset_spec(name, {**entry, "size": {kind: tokens if kind == "tokens" else problems}})
        t = time.process_time()
        n = len(data.generate(task, spec))
        rate = n / (time.process_time() - t)
        projected = full * n / spec.size  # problems at full size (tokens per problem as measured here)
        hours = projected / rate / cores / 3600
        total_h += hours
        ops = entry.get("ops") or "; ".join(str(c["ops"]) for c in entry["components"])
        print(
            f"| {name} | {spec.split} | {ops} | {full:,} {kind} | {n:,} | {rate:,.0f} | {projected:,.0f} "
            f"| {hours:.2f} |"
        )
    print(f"all datasets: {total_h:.1f} hours on {cores} cores (one worker per core, buckets spread evenly)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-op", type=int, default=60)
    ap.add_argument("--mode", default="forward")
    ap.add_argument("--tokens", type=int, default=1_000_000, help="each token-sized paper dataset, scaled")
    ap.add_argument("--problems", type=int, default=1_000, help="each problem-sized paper dataset, scaled")
    ap.add_argument("--cores", type=int, default=16)
    args = ap.parse_args()
    spec = TaskSpec(master_seed=99)
    print(f"generator, split=pre, mode={args.mode}, {args.per_op} problems per op, one process")
    print("| op | problems/s (CPU) | attempts/problem |")
    print("|---|---|---|")
    total_n, total_t, total_w, rates, examples = 0, 0.0, 0.0, [], []
    for op in range(2, 21):
        t, w = time.process_time(), time.perf_counter()
        exs = list(itertools.islice(stream(spec, "pre", "zoo", args.mode, op), args.per_op))
        dt = time.process_time() - t
        total_w += time.perf_counter() - w
        examples += exs
        total_n += len(exs)
        total_t += dt
        rates.append(len(exs) / dt)
        att = sum(e.attempt + 1 for e in exs) / len(exs)
        print(f"| {op} | {len(exs) / dt:,.0f} | {att:.1f} |")
    print(
        f"overall (equal count per op): {total_n / total_t:,.0f} problems/s of CPU time "
        f"({total_n / total_w:,.0f} wall); mean of per-op rates: {sum(rates) / len(rates):,.0f} problems/s"
    )

    rng = random.Random(0)
    texts = []
    for ex in examples:
        t = ex.text
        if rng.random() < 0.5:  # half mutated like model output: a changed character somewhere
            i = rng.randrange(len(t))
            t = t[:i] + rng.choice("0123456789abcXYZ=+;. ") + t[i + 1 :]
        texts.append((t, ex))
    t0 = time.process_time()
    reps = 3
    for _ in range(reps):
        for t, ex in texts:
            score(t, ex.gold, ex.rendered.answer)
    dt = time.process_time() - t0
    mean_chars = sum(len(t) for t, _ in texts) / len(texts)
    print(
        f"verifier: {reps * len(texts) / dt:,.0f} traces/s of CPU time "
        f"(mean {mean_chars:,.0f} characters, op 2-20, "
        "half of them mutated)"
    )
    paper_profile(args.tokens, args.problems, args.cores)


if __name__ == "__main__":
    main()
