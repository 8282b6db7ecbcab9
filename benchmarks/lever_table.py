"""The learnability lever table from `dvc exp` experiments (issue: learnability at CPU scale).

Each lever is one experiment that re-trains and re-evaluates the base model with one change, e.g.

    C="-S pretrain.base.tokens=6000000 -S train_defaults.threads=1 -S evaluate.defaults.threads=1"
    dvc exp run --queue evaluate@base --name lv-control $C
    dvc exp run --queue evaluate@base --name lv-tied $C -S model.tie_embeddings=true
    dvc queue start -j 2          # two 1-thread jobs side by side

and this script reads every named experiment's evaluation and params straight from its Git ref
(`refs/exps/.../<name>`; nothing is applied to the workspace) and writes a Markdown table of strict
pass@k per op with bootstrap intervals and each lever's difference to the control:

    python benchmarks/lever_table.py lv-control lv-tied ... [--run base] [--ops 2-8] \
        [--out reports/levers.md]

The first name is the control. The workspace's own evaluation can be added as `workspace`.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path

import polars as pl
import yaml

from interplay import levers
from interplay.compute import flops_per_token
from interplay.data import parse_ops
from interplay.io import write_text
from interplay.model import config_from_params


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def exp_refs() -> dict[str, str]:
    """Experiment name -> its Git ref (the newest, if a name was run twice)."""
    out = _git("for-each-ref", "--sort=committerdate", "--format=%(refname)", "refs/exps")
    refs: dict[str, str] = {}
    for ref in out.decode().split():
        name = ref.rsplit("/", 1)[-1]
        if ref.startswith("refs/exps/celery"):
            continue
        refs[name] = ref
    return refs


def read(ref: str | None, path: str) -> bytes:
    if ref is None:  # the workspace
        return Path(path).read_bytes()
    return _git("show", f"{ref}:{path}")


def vocab_size(ref: str | None) -> int:
    """The tokenizer's vocabulary of an experiment: its ``dvc.lock`` names the file's hash, the DVC
    cache holds it (the workspace's own tokenizer for ``workspace``)."""
    path = Path("data/tokenizer/tokenizer.json")
    if ref is not None:
        lock = yaml.safe_load(read(ref, "dvc.lock"))
        md5 = next(o["md5"] for o in lock["stages"]["tokenizer"]["outs"] if o["path"] == str(path))
        cache = _git("rev-parse", "--show-toplevel").decode().strip()
        out = subprocess.run(["dvc", "cache", "dir"], cwd=cache, capture_output=True, text=True, check=True)
        path = Path(out.stdout.strip()) / "files" / "md5" / md5[:2] / md5[2:]
    return len(json.loads(path.read_text())["model"]["vocab"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", help="experiment names; the first is the control")
    ap.add_argument("--run", default="base", help="the pretrain/evaluate run the experiments changed")
    ap.add_argument("--ops", default="2-8")
    ap.add_argument("--groups", default="ID=2-5,edge=6-8")
    ap.add_argument("--out", default="reports/levers.md")
    ap.add_argument(
        "--ignore",
        default="",
        help="comma-separated param keys (or key prefixes) that are not levers, e.g. an evaluation "
        "set cut to the table's ops (datasets.eval)",
    )
    args = ap.parse_args()

    refs = exp_refs()
    missing = [n for n in args.names if n != "workspace" and n not in refs]
    if missing:
        raise SystemExit(f"no experiment named {missing} (known: {sorted(refs)})")
    evals, params, info = {}, {}, {}
    for name in args.names:
        ref = None if name == "workspace" else refs[name]
        evals[name] = pl.read_parquet(io.BytesIO(read(ref, f"reports/eval/{args.run}.parquet")))
        params[name] = yaml.safe_load(read(ref, "params.yaml"))
        train = json.loads(read(ref, f"reports/train/{args.run}/metrics.json"))
        cfg = config_from_params(params[name]["model"], vocab_size(ref))
        seq = params[name]["train_defaults"]["seq_len"]
        info[name] = {
            "tokens": train["tokens"],
            "flops": flops_per_token(cfg, seq) * train["tokens"],
            "final_loss": train["final_loss"],
            "tokens_per_s": train["tokens_per_s"],
            "threads": params[name]["train_defaults"]["threads"],
            "ref": ref or "workspace",
        }
    control = args.names[0]
    ignore = tuple(p for p in args.ignore.split(",") if p)
    changes = {
        n: {k: v for k, v in levers.changed(params[n], params[control]).items() if not k.startswith(ignore)}
        for n in args.names
    }
    groups = {g.split("=")[0]: sorted(parse_ops(g.split("=")[1], "--groups")) for g in args.groups.split(",")}
    md, data = levers.tables(evals, changes, control, sorted(parse_ops(args.ops, "--ops")), groups)

    rows = [
        "| variant | change | tokens | training FLOPs | final loss | threads | tokens/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in args.names:
        i = info[n]
        rows.append(
            f"| {n} | {levers.fmt_change(changes[n])} | {i['tokens'] / 1e6:.2f}M | {i['flops']:.2e} | "
            f"{i['final_loss']:.3f} | {i['threads']} | {i['tokens_per_s']:,.0f} |"
        )
        data["variants"][n]["train"] = i
    target = [
        "**Against the competent-base target** (`levers.Target`: ID >= 4 consecutive ops at strict pass@1 "
        ">= 0.6 and pass@n >= 0.95; then 2-3 edge ops at pass@1 0.02-0.4 and pass@n 0.15-0.85; beyond "
        "at pass@n <= 0.05; every op the evaluation holds)",
        "",
        "| variant | ID ops | edge ops | hard ops | ID met | edge met | hard met | target met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, df in evals.items():
        k = int(df["n"].min())
        per_op = {
            int(o): (levers.cell(df, [o], 1)[0], levers.cell(df, [o], k)[0]) for o in sorted(set(df["op"]))
        }
        shape = levers.ladder_shape(per_op)
        data["variants"][n]["target"] = shape
        span = lambda ops: f"{ops[0]}-{ops[-1]}" if ops else "-"  # noqa: E731
        target.append(
            f"| {n} | {span(shape['id'])} | {span(shape['edge'])} | {span(shape['hard'])} | "
            f"{shape['id_met']} | {shape['edge_met']} | {shape['hard_met']} | {shape['met']} |"
        )
    md = md + "\n" + "\n".join(target) + "\n"
    cmd = "python benchmarks/lever_table.py " + " ".join(args.names)
    if ignore:
        cmd += f" --ignore {args.ignore}"
    text = "\n".join(["<!-- written by: " + cmd + " -->", "", *rows, "", md])
    out = Path(args.out)
    write_text(out, text)  # each written to a temporary file, then renamed: no partial output
    write_text(out.with_suffix(".json"), json.dumps(data, indent=1))
    print(text)


if __name__ == "__main__":
    main()
