"""The RL prompt filter: keep the prompts an initial model solves sometimes but not always.

GRPO learns only from groups whose rollouts disagree: a prompt every rollout fails (or every rollout
solves) gives all-equal rewards, zero advantages and no gradient. The paper's guidance for RL data is
"failed at pass@1, solved at pass@k"; applied per problem, that is: sample the initial model ``samples``
(k) times on each prompt of the pool, at the RL rollout temperature, count the process-verified
(strict) completions c, and keep the prompts with 0 < c < k (``keep: mixed``). ``keep: all`` keeps
every prompt (the counts are still measured and reported): a pass-through for tiny smoke models that
solve nothing, and a control.

The sampler, its per-problem seeding and the verifier are the evaluation's (``interplay.evaluate``),
so the kept set is a pure function of the model, the pool and ``seed``, at any thread count.

Compute: sampling is forward passes only, 2P FLOPs per token, i.e. 1/3 of a training token-equivalent
(6P) per sampled token (prompt and completion). RL runs with a compute budget charge it to their share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from tokenizers import Tokenizer

from interplay.evaluate import AUTO, EvalConfig, auto_max_new_tokens, gold_completion, token_lengths
from interplay.io import parquet_batches
from interplay.params import MAX_THREADS, need, option, parse

KEEPS = ("mixed", "all")
FORWARD_SHARE = 1.0 / 3.0  # token-equivalents per sampled token: 2P of the 6P of a training token
READ_ROWS = 16_384  # pool rows sampled at a time (memory, not results)


@dataclass(frozen=True)
class FilterConfig:
    """One prompt filter (``params.yaml: filter.runs.<name>`` over ``filter.defaults``)."""

    dataset: str = option(doc="the RL prompt pool to filter (a generated dataset)")
    model: str = option(doc="the run whose checkpoint samples: the RL run's init")
    samples: int = option(16, lo=2, hi=1 << 17, doc="k samples per prompt")
    temperature: float = option(1.0, lo=0.0, hi=100.0, doc="the RL rollout temperature, > 0")
    max_new_tokens: int | str = option(AUTO, lo=1, hi=1 << 20, sentinel=AUTO, doc="auto: 1.5 x longest gold")
    keep: str = option("mixed", choices=KEEPS, doc="mixed: 0 < c < k; all: every prompt")
    seed: int = option(0, lo=0, doc="the per-problem sampling seeds")
    batch_rows: int = option(512, lo=1, hi=1 << 20, doc="rows per sampler chunk")
    threads: int = option(2, lo=1, hi=MAX_THREADS, doc="torch CPU threads")
    device: str = option("auto", choices=("auto", "cpu", "cuda"), doc="auto: CUDA when present")


def config_from_params(merged: Mapping[str, Any], key: str) -> FilterConfig:
    """A filter entry merged over ``filter.defaults``, validated; errors name ``key.<field>``."""
    cfg = parse(FilterConfig, merged, key)
    need(cfg.temperature > 0, f"{key}.temperature", "must be > 0: the filter needs sampled rollouts")
    return cfg


def max_new_tokens(cfg: FilterConfig, gold_lens: list[int], positions: int) -> int:
    """``auto`` -> ``evaluate.auto_max_new_tokens`` (as RL's rollouts); a number stays as given."""
    if cfg.max_new_tokens != AUTO:
        return int(cfg.max_new_tokens)
    return auto_max_new_tokens(gold_lens, positions)


def eval_config(cfg: FilterConfig, max_new: int) -> EvalConfig:
    """The evaluation settings the filter samples with (every prompt, no top-p)."""
    return EvalConfig(
        samples=cfg.samples,
        temperature=cfg.temperature,
        top_p=1.0,
        max_new_tokens=max_new,
        problems_per_op=None,
        batch_rows=cfg.batch_rows,
        seed=cfg.seed,
        threads=cfg.threads,
        device=cfg.device,
    )


def keep_mask(correct: pl.Series, samples: int, keep: str) -> pl.Series:
    """Which prompts stay: ``mixed`` keeps 0 < c < k, ``all`` keeps every one."""
    if keep == "all":
        return pl.Series([True] * len(correct))
    return (correct > 0) & (correct < samples)


def apply(pool: pl.DataFrame, scored: pl.DataFrame, cfg: FilterConfig) -> pl.DataFrame:
    """The kept rows of ``pool`` in pool order, with the filter's count ``filter_correct`` (c of k).
    ``scored`` holds the evaluation's rows (``uid``, ``c_strict``), one per pool prompt, in pool order."""
    need(
        scored["uid"].to_list() == pool["uid"].to_list(),
        "filter",
        "the scored rows are not the pool's prompts in pool order",
    )
    out = pool.with_columns(scored["c_strict"].alias("filter_correct"))
    return out.filter(keep_mask(out["filter_correct"], cfg.samples, cfg.keep))


def scan(path: str | Path, tok: Tokenizer) -> tuple[int, int, int]:
    """One pass over a pool file, ``READ_ROWS`` rows at a time: (prompts, prompt tokens summed, the
    longest gold completion in tokens)."""
    rows = prompt_tokens = longest = 0
    for batch in parquet_batches(path, READ_ROWS, ["prompt", "text"]):
        d = batch.to_pydict()
        rows += len(d["prompt"])
        prompt_tokens += int(token_lengths(tok, d["prompt"]).sum())
        longest = max([longest, *token_lengths(tok, [gold_completion(t) for t in d["text"]]).tolist()])
    return rows, prompt_tokens, longest


def run(
    path: str | Path,
    out: str | Path,
    model,
    tok: Tokenizer,
    cfg: FilterConfig,
    max_new: int,
    device,
    dd,
    read_rows: int = 0,
) -> pl.DataFrame | None:
    """Sample the pool at ``path`` chunk by chunk (``read_rows`` rows, default ``READ_ROWS``) and write
    its kept rows (``apply``) to ``out`` in fixed row groups: memory holds one chunk, and the file is
    the same whatever the chunk size (samples are seeded per problem). Returns, on the main rank (the
    only one that writes; ``out`` is None elsewhere), the small columns of every prompt's scored row
    (``op``, ``c_strict``, ``mean_len``, ``n``, ``kept``) for ``summary`` and the sampling seconds."""
    from interplay.data import RowGroupWriter
    from interplay.evaluate import run_sharded

    ecfg = eval_config(cfg, max_new)
    writer, parts, seconds = None, [], 0.0
    try:
        for batch in parquet_batches(path, read_rows or READ_ROWS):
            chunk = pl.from_arrow(batch)
            scored = run_sharded(model, tok, chunk, ecfg, device, dd)
            if not dd.main:
                continue
            seconds += float(scored["eval_seconds"].max())  # the chunk's sampling time
            kept = apply(chunk, scored, cfg)
            table = kept.to_arrow()
            writer = writer or RowGroupWriter(out, table.schema)
            writer.add(table)
            small = scored.select("op", "c_strict", "mean_len", "n", "eval_seconds")
            parts.append(
                small.with_columns(keep_mask(scored["c_strict"], cfg.samples, cfg.keep).alias("kept"))
            )
    finally:
        if writer is not None:
            writer.close()
    return (pl.concat(parts), seconds) if dd.main else None


def summary(scored: pl.DataFrame, seconds: float, cfg: FilterConfig, prompt_tokens: int) -> dict[str, Any]:
    """Per op: prompts, kept, all-fail (c = 0), all-pass (c = k); and the sampling's compute, counting
    each of the k samples as its prompt (``prompt_tokens``: summed over the pool) plus its completion.
    ``scored``: one row per pool prompt (``run``'s return)."""
    k = cfg.samples
    per_op: dict[str, dict[str, int]] = {}
    for op in sorted(set(scored["op"].to_list())):
        s = scored.filter(pl.col("op") == op)
        per_op[str(op)] = {
            "prompts": s.height,
            "kept": int(s["kept"].sum()),
            "all_fail": int((s["c_strict"] == 0).sum()),
            "all_pass": int((s["c_strict"] == k).sum()),
        }
    gen = round(float((scored["mean_len"] * scored["n"]).sum()))  # every completion's tokens
    sampled = prompt_tokens * k + gen
    return {
        "dataset": cfg.dataset,
        "model": cfg.model,
        "samples": k,
        "keep": cfg.keep,
        "prompts": scored.height,
        "kept": int(scored["kept"].sum()),
        "mixed": int(((scored["c_strict"] > 0) & (scored["c_strict"] < k)).sum()),
        "per_op": per_op,
        "sampled_tokens": sampled,
        "token_equivalent": sampled * FORWARD_SHARE,
        "seconds": round(seconds, 1),
    }
