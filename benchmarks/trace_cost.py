"""What a trace format costs in tokens: completion length per op, forward trace vs plan-first trace.

The same problems (same split, op and ordinal) rendered with each ``task.trace``, under the task
settings of ``params.yaml``; tokens counted as the saturated tokenizer counts them
(``tokenizer.count_tokens``). The completion is everything the model writes after ``<solution>``.

    python benchmarks/trace_cost.py [--per-op 100] [--ops 2-14]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import yaml

from interplay.data import parse_ops
from interplay.task.generate import stream
from interplay.task.spec import task_spec_from_params
from interplay.tokenizer import count_tokens


def completion(text: str) -> str:
    return text.split("<solution>", 1)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-op", type=int, default=100)
    ap.add_argument("--ops", default="2-14")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    with open(args.params) as f:
        base = task_spec_from_params(yaml.safe_load(f)["task"])
    specs = {style: dataclasses.replace(base, trace=style) for style in ("forward", "plan")}
    print(f"{args.per_op} problems per op (split eval, context zoo, forward mode), tokens per problem")
    print("| op | prompt | completion, forward | completion, plan | plan - forward | plan / forward |")
    print("|---|---|---|---|---|---|")
    for op in sorted(parse_ops(args.ops, "--ops")):
        ex = {
            s: list(itertools.islice(stream(spec, "eval", "zoo", "forward", op), args.per_op))
            for s, spec in specs.items()
        }
        prompt = sum(count_tokens(e.prompt) for e in ex["forward"]) / args.per_op
        comp = {s: sum(count_tokens(completion(e.text)) for e in v) / args.per_op for s, v in ex.items()}
        print(
            f"| {op} | {prompt:.1f} | {comp['forward']:.1f} | {comp['plan']:.1f} | "
            f"{comp['plan'] - comp['forward']:+.1f} | {comp['plan'] / comp['forward']:.2f} |"
        )


if __name__ == "__main__":
    main()
