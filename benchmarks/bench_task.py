"""Generator and verifier throughput on one core. Prints a table; numbers go to the README.

python benchmarks/bench_task.py [--per-op 60]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time

from interplay.task.generate import stream
from interplay.task.spec import TaskSpec
from interplay.task.verify import score


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-op", type=int, default=60)
    ap.add_argument("--mode", default="forward")
    args = ap.parse_args()
    spec = TaskSpec(master_seed=99)
    print(f"generator, split=pre, mode={args.mode}, {args.per_op} problems per op, one process")
    print("| op | problems/s | attempts/problem |")
    print("|---|---|---|")
    total_n, total_t, rates, examples = 0, 0.0, [], []
    for op in range(2, 21):
        t = time.perf_counter()
        exs = list(itertools.islice(stream(spec, "pre", "zoo", args.mode, op), args.per_op))
        dt = time.perf_counter() - t
        examples += exs
        total_n += len(exs)
        total_t += dt
        rates.append(len(exs) / dt)
        att = sum(e.attempt + 1 for e in exs) / len(exs)
        print(f"| {op} | {len(exs) / dt:,.0f} | {att:.1f} |")
    print(
        f"overall (equal count per op): {total_n / total_t:,.0f} problems/s; "
        f"mean of per-op rates: {sum(rates) / len(rates):,.0f} problems/s"
    )

    rng = random.Random(0)
    texts = []
    for ex in examples:
        t = ex.text
        if rng.random() < 0.5:  # half mutated like model output: a changed character somewhere
            i = rng.randrange(len(t))
            t = t[:i] + rng.choice("0123456789abcXYZ=+;. ") + t[i + 1 :]
        texts.append((t, ex))
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        for t, ex in texts:
            score(t, ex.gold, ex.rendered.answer)
    dt = time.perf_counter() - t0
    mean_chars = sum(len(t) for t, _ in texts) / len(texts)
    print(
        f"verifier: {reps * len(texts) / dt:,.0f} traces/s (mean {mean_chars:,.0f} characters, op 2-20, "
        "half of them mutated)"
    )


if __name__ == "__main__":
    main()
