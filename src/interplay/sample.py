"""Look at what a model writes: sample a few completions for problems of one op and show, under each,
the process verifier's verdict per quantity.

    python -m interplay.sample data/models/base --op 5 [-n 4] [--problems 1] [--dataset eval]
        [--temperature 0.7] [--seed 0] [--max-new-tokens 256]

The problems come from ``data/datasets/<dataset>.parquet`` (an evaluation set by default), in the
order the dataset holds them; the sampler and its seeding are the evaluation's, so ``--seed 0`` at
T = 0.7 shows completions like those ``evaluate`` scored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from interplay import inputs
from interplay.evaluate import ANSWER_END, gold_nodes, problem_key
from interplay.sampling import generate
from interplay.task.verify import node_report, score
from interplay.tokenizer import EOS


def show(model_dir: Path, problems: pl.DataFrame, n: int, temperature: float, seed: int, max_new: int) -> str:
    """The report as text: per problem its question, gold trace and n verified completions."""
    inputs.checkpoint(model_dir)
    tok = inputs.tokenizer(model_dir / "tokenizer.json")
    model = inputs.model(model_dir).eval()
    prompts = [e.ids for e in tok.encode_batch(problems["prompt"].to_list())]
    outs = generate(
        model,
        prompts,
        n,
        temperature=temperature,
        max_new_tokens=max_new,
        stop_ids=[tok.token_to_id(ANSWER_END), EOS],
        seed=seed,
        problem_keys=[problem_key(u) for u in problems["uid"]],
    )
    lines: list[str] = []
    for rec, out in zip(problems.iter_rows(named=True), outs):
        gold = gold_nodes(rec["gold"])
        lines += [f"=== {rec['id']} (op {rec['op']}, {rec['context']}) answer {rec['answer']}", rec["prompt"]]
        lines += ["--- gold", rec["text"].split("<solution>", 1)[1].strip()]
        for j, ids in enumerate(out.tokens):
            text = tok.decode(ids, skip_special_tokens=False)
            s = score(text, gold, rec["answer"], rec["modulus"])
            verdict = "VERIFIED" if s.verified else f"not verified ({s.category})"
            cut = " [truncated]" if out.truncated[j] else ""
            lines += [f"--- sample {j + 1}: {verdict}, ProcessAcc {s.process_acc:.2f}{cut}", text.strip()]
            for name, status, detail in node_report(text, gold, rec["modulus"]):
                if status != "ok":
                    lines.append(f"    {status:10s} {name}{': ' + detail if detail else ''}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interplay.sample", description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="a checkpoint folder, e.g. data/models/base")
    ap.add_argument("--op", type=int, required=True)
    ap.add_argument("-n", type=int, default=4, help="completions per problem")
    ap.add_argument("--problems", type=int, default=1)
    ap.add_argument("--dataset", default="eval")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    args = ap.parse_args(argv)
    try:
        data = inputs.parquet(Path("data/datasets") / f"{args.dataset}.parquet", f"dataset '{args.dataset}'")
        problems = data.filter(pl.col("op") == args.op).head(args.problems)
        if problems.height == 0:
            ops = sorted(set(data["op"].to_list()))
            print(
                f"error: dataset '{args.dataset}' has no problem at op {args.op} (ops: {ops})",
                file=sys.stderr,
            )
            return 2
        print(show(args.model, problems, args.n, args.temperature, args.seed, args.max_new_tokens))
    except inputs.InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
