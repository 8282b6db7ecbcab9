"""Process-verified evaluation: n samples per problem, scored by the verifier, pass@k per op/range.

One row per problem in ``reports/eval/<name>.parquet``: n, strict (VerifiedCorrect) and answer-only
correct counts, error-category counts, mean response length. ``metrics`` turns those rows into
pass@k per range / op / context with bootstrap intervals over problems.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch
from tokenizers import Tokenizer

from interplay.params import MAX_THREADS, need, option, parse
from interplay.passk import estimate, ks_for, pass_at_k_array
from interplay.runtime import resolve_device
from interplay.sampling import generate_iter
from interplay.task.linear import Lin
from interplay.task.render import GoldNode
from interplay.task.verify import score
from interplay.tokenizer import EOS

ANSWER_END = "</answer>"
AUTO = "auto"  # max_new_tokens: auto (RL rollouts, the prompt filter) ...
AUTO_FACTOR = 1.5  # ... = 1.5 x the longest gold completion of the prompts, so a right answer fits
KEEP_COMPLETIONS = 2  # completions per problem an evaluation keeps as text
CATEGORIES = ("correct", "dependency", "missing", "value", "answer")


@dataclass(frozen=True)
class EvalConfig:
    """How a model is sampled and scored (``params.yaml: evaluate.defaults``, a run's overrides)."""

    samples: int = option(64, lo=1, hi=1 << 17, doc="samples per problem, n of pass@n (paper: 128)")
    temperature: float = option(0.7, lo=0.0, doc="sampling temperature (paper: 0.7)")
    top_p: float = option(1.0, lo=0.0, hi=1.0, doc="nucleus mass, > 0")
    max_new_tokens: int = option(384, lo=1, hi=1 << 20, doc="new-token cap (paper: 1,024)")
    problems_per_op: int | None = option(None, lo=1, doc="first problems per op; none: every problem")
    ops: str | None = option(None, doc="only these ops of the dataset ('2-8' or one op); none: every op")
    batch_rows: int = option(512, lo=1, hi=1 << 20, doc="rows per sampler chunk (memory, not results)")
    seed: int = option(0, lo=0, doc="the per-problem sampling seeds")
    threads: int = option(2, lo=1, hi=MAX_THREADS, doc="torch CPU threads")
    device: str = option("auto", choices=("auto", "cpu", "cuda"), doc="auto: CUDA when present")


def config_from_params(d: Mapping[str, Any], key: str = "evaluate.defaults") -> EvalConfig:
    if isinstance(d.get("ops"), int) and not isinstance(d.get("ops"), bool):
        d = {**d, "ops": str(d["ops"])}  # one op, written as a number
    cfg = parse(EvalConfig, d, key)
    need(cfg.top_p > 0, f"{key}.top_p", "must be > 0")
    if cfg.ops is not None:
        op_list(cfg.ops, f"{key}.ops")
    return cfg


def op_list(spec: str, key: str) -> list[int]:
    """An ``ops`` setting ('2-8' or one op) as sorted op numbers."""
    from interplay.data import parse_ops

    return sorted(parse_ops(spec, key))


def gold_completion(text: str) -> str:
    """What the model should write after a training text's ``<solution>`` marker (with its leading
    space, as the model sees it): the gold trace, answer and closing tags."""
    return " " + text.split("<solution>", 1)[1]


def token_lengths(tok: Tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Each text's length in tokens (int32), from ``encode_batch_fast``: the same ids as
    ``encode_batch``, without the per-token offsets and strings it keeps (memory, over large batches)."""
    return np.asarray([len(e.ids) for e in tok.encode_batch_fast(list(texts))], dtype=np.int32)


def auto_max_new_tokens(gold_lens: Sequence[int], positions: int) -> int:
    """``max_new_tokens: auto``: AUTO_FACTOR x the longest gold completion, within the model's positions."""
    return min(positions - 1, math.ceil(AUTO_FACTOR * max(gold_lens)))


def parse_ranges(d: Mapping[str, Any], key: str = "evaluate.ranges") -> dict[str, list[int]]:
    """``{id: "2-10", edge: "11-14", hard: "15-20"}`` -> op lists (disjoint)."""
    from interplay.data import parse_ops

    need(isinstance(d, Mapping) and d, key, "expected a mapping of range names to op ranges")
    out = {name: sorted(parse_ops(v, f"{key}.{name}")) for name, v in d.items()}
    seen: dict[int, str] = {}
    for name, ops in out.items():
        for op in ops:
            need(op not in seen, f"{key}.{name}", f"op {op} is also in range '{seen.get(op)}'")
            seen[op] = name
    return out


def select_problems(df: pl.DataFrame, per_op: int | None, ops: str | None = None) -> pl.DataFrame:
    """The first ``per_op`` problems of each op (of ``ops`` only, when given), interleaving contexts
    and modes. A cut keeps the problems a full evaluation has at its ops, and their samples up to
    floating-point differences in rare samples (a chunk's prompt padding depends on the problems
    beside it: ``interplay.sampling``)."""
    if df.height == 0:
        raise ValueError("evaluation dataset is empty")
    if ops is not None:
        wanted = op_list(ops, "ops")
        df = df.filter(pl.col("op").is_in(wanted))
        if df.height == 0:
            raise ValueError(f"evaluation dataset has no problem at ops {ops}")
    df = df.sort(["op", "ordinal", "context", "mode"])
    if per_op is None:
        return df
    return df.group_by("op", maintain_order=True).head(per_op)


def gold_nodes(gold: list[dict]) -> list[GoldNode]:
    return [GoldNode(g["name"], frozenset(g["parents"]), Lin(g["a"], g["b"])) for g in gold]


def problem_key(uid: str) -> int:
    return int(uid[:8], 16)


def run(
    model, tok: Tokenizer, problems: pl.DataFrame, cfg: EvalConfig, device, progress: bool = True
) -> pl.DataFrame:
    """Sample and score; one row per problem. Memory holds one group of problems' samples at a time
    (``sampling.generate_iter``), not every sample of the evaluation."""
    from tqdm import tqdm

    stop = [tok.token_to_id(ANSWER_END), EOS]
    prompts = [e.ids for e in tok.encode_batch(problems["prompt"].to_list())]
    keys = [problem_key(u) for u in problems["uid"]]
    total = len(prompts) * cfg.samples
    bar = tqdm(total=total, desc="evaluate", unit="sample", disable=not progress, mininterval=5.0)
    t0 = time.perf_counter()
    gen_tokens = [0]

    def tick(n_samples: int, n_tokens: int) -> None:
        gen_tokens[0] += n_tokens
        bar.update(n_samples)
        bar.set_postfix(tok_s=f"{gen_tokens[0] / max(time.perf_counter() - t0, 1e-9):,.0f}")

    recs = problems.rows(named=True)
    rows: list[dict[str, Any] | None] = [None] * len(recs)
    samples = generate_iter(
        model,
        prompts,
        cfg.samples,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_new_tokens=cfg.max_new_tokens,
        stop_ids=stop,
        seed=cfg.seed,
        problem_keys=keys,
        batch_rows=cfg.batch_rows,
        device=device,
        on_chunk=tick,
    )
    for i, out in samples:  # scored as each group finishes: the samples are never all held
        rows[i] = problem_row(recs[i], out, tok)
    bar.close()
    seconds = time.perf_counter() - t0
    df = pl.DataFrame(rows)
    return df.with_columns(pl.lit(seconds).alias("eval_seconds"), pl.lit(gen_tokens[0]).alias("gen_tokens"))


def problem_row(rec: Mapping[str, Any], out, tok: Tokenizer) -> dict[str, Any]:
    """One problem's evaluation row: its n completions scored by the verifier, as counts (strict,
    answer-only, the official strict variant, outcome categories, node errors), the mean ProcessAcc,
    lengths, and the first ``KEEP_COMPLETIONS`` completions as text."""
    gold = gold_nodes(rec["gold"])
    cats = dict.fromkeys(CATEGORIES, 0)
    c_strict = c_answer = c_official = 0
    errs = {"missing": 0, "extra": 0, "dependency": 0, "value": 0}
    pacc = 0.0
    shown: list[str] = []  # the first completions, kept for reading (python -m interplay.sample)
    for ids in out.tokens:
        text = tok.decode(ids, skip_special_tokens=False)
        if len(shown) < KEEP_COMPLETIONS:
            shown.append(text)
        s = score(text, gold, rec["answer"], rec["modulus"])
        c_strict += s.verified
        c_answer += s.answer_correct
        c_official += s.strict_official
        cats[s.category] += 1
        pacc += s.process_acc
        errs["missing"] += s.n_missing
        errs["extra"] += s.n_extra
        errs["dependency"] += s.n_dependency
        errs["value"] += s.n_value
    n = len(out.tokens)
    return {
        "dataset": rec["dataset"],
        "id": rec["id"],
        "uid": rec["uid"],
        "qid": rec["qid"],  # the problem alone (statements + question): same across trace formats
        "op": rec["op"],
        "context": rec["context"],
        "mode": rec["mode"],
        "n": n,
        "c_strict": c_strict,
        "c_answer": c_answer,
        "c_strict_official": c_official,
        "process_acc": pacc / n,
        **{f"cat_{k}": v for k, v in cats.items()},
        **{f"err_{k}": v for k, v in errs.items()},
        "mean_len": float(np.mean([len(t) for t in out.tokens])),
        "n_truncated": int(sum(out.truncated)),
        "gold_len": len(tok.encode(gold_completion(rec["text"])).ids),
        "completions": shown,
    }


def _passk(sub: pl.DataFrame, k: int, col: str = "c_strict") -> np.ndarray:
    """Per-problem pass@k of the rows ``sub`` (unbiased, from n samples and c correct)."""
    return pass_at_k_array(sub["n"].to_numpy(), sub[col].to_numpy(), k)


def per_op(df: pl.DataFrame, ks: Sequence[int] | None = None, col: str = "c_strict") -> dict[str, dict]:
    """``{op: {"pass@k": mean over the op's problems}}`` for each k (default: 1 and n)."""
    n = int(df["n"].min())
    ks = list(ks) if ks is not None else sorted({1, n})
    out = {}
    for op in sorted(set(df["op"].to_list())):
        sub = df.filter(pl.col("op") == op)
        out[str(op)] = {f"pass@{k}": round(float(_passk(sub, k, col).mean()), 5) for k in ks}
    return out


def metrics(df: pl.DataFrame, ranges: Mapping[str, list[int]]) -> dict[str, Any]:
    """The headline block ``dvc exp show`` lists: strict pass@1 and pass@n per range, each with the
    project's one 95% interval (``passk.estimate``), and the output length. Every other k, the
    per-op values and answer-only accuracy are in the plot tables (``curves``)."""
    n = int(df["n"].min())
    out: dict[str, Any] = {"samples": n, "problems": df.height, "strict": {}}
    for name, ops in ranges.items():
        if df.filter(pl.col("op").is_in(ops)).height == 0:
            continue
        entry = {}
        for k in sorted({1, n}):
            mean, lo, hi = estimate(df, ops, k)  # the findings' and report's estimate: one interval
            entry[f"pass@{k}"] = round(mean, 5)
            entry[f"pass@{k}_ci"] = [round(lo, 5), round(hi, 5)]
        out["strict"][name] = entry
    out["mean_len"] = round(float(df["mean_len"].mean()), 2)
    out["truncated"] = round(float(df["n_truncated"].sum() / df["n"].sum()), 5)
    return out


def curves(df: pl.DataFrame, ranges: Mapping[str, list[int]]) -> dict[str, list[dict]]:
    """Plot tables, one row per k (k = 1, 2, 4, ..., n), one column per series, for ``dvc plots``:
    ``passk`` strict pass@k per range (null where the evaluation has no problem in it), ``passk_op``
    strict pass@k per op (``op 2``, ...), ``passk_answer`` answer-only pass@k per range."""
    n = int(df["n"].min())
    groups = {r: df.filter(pl.col("op").is_in(o)) for r, o in ranges.items()}
    ops = {f"op {op}": df.filter(pl.col("op") == op) for op in sorted(set(df["op"].to_list()))}

    def value(sub: pl.DataFrame, k: int, col: str) -> float | None:  # None: no problem in the range
        return round(float(_passk(sub, k, col).mean()), 5) if sub.height else None

    def table(series: Mapping[str, pl.DataFrame], col: str) -> list[dict]:
        return [{"k": k, **{name: value(sub, k, col) for name, sub in series.items()}} for k in ks_for(n)]

    return {
        "passk": table(groups, "c_strict"),
        "passk_op": table(ops, "c_strict"),
        "passk_answer": table(groups, "c_answer"),
    }


def tensor_device(name: str) -> torch.device:
    return resolve_device(name)


def run_sharded(
    model, tok: Tokenizer, problems: pl.DataFrame, cfg: EvalConfig, device, dd, progress: bool = True
) -> pl.DataFrame:
    """``run`` with problems shared round-robin across torchrun ranks, gathered in problem order.

    Samples are seeded per (problem, sample), so the counts equal an unsharded run's."""
    from interplay import dist as D

    order = problems.with_row_index("_row")
    mine = order.filter(pl.col("_row") % dd.world == dd.rank)
    df = run(model, tok, mine.drop("_row"), cfg, device, progress=progress and dd.main)
    df = df.with_columns(mine["_row"].alias("_row"))
    parts = D.gather_objects(df, dd)
    out = pl.concat(parts, how="vertical_relaxed").sort("_row").drop("_row")
    gen = sum(int(part["gen_tokens"][0]) for part in parts if part.height)
    return out.with_columns(pl.col("eval_seconds").max(), pl.lit(gen).alias("gen_tokens"))
