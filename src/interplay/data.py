"""Datasets: mixtures declared in ``params.yaml`` -> op-tagged Parquet files with an explicit schema.

A dataset is a weighted list of *components* (op weights x context weights x mode weights). Its
size is a number of problems or of tokens. Each (context, mode, op) bucket gets an exact quota and
takes the prefix of that bucket's deterministic stream (``task.generate.stream``), so the same
params give byte-identical files and datasets of one split share problems.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from interplay.io import atomic_path, parquet_batches, remove_leftovers
from interplay.params import as_choice, as_float, as_int, check_keys, need, weights
from interplay.task.generate import Example, stream
from interplay.task.lexicon import CONTEXTS
from interplay.task.spec import GENERATOR_VERSION, MAX_OP, MODES, SPLITS, VOCAB_VERSION, TaskSpec
from interplay.tokenizer import count_tokens

# --------------------------------------------------------------------------------------------------
# specs


@dataclass(frozen=True)
class Bucket:
    context: str
    mode: str
    op: int


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    split: str
    size_kind: str  # "problems" | "tokens"
    size: int
    buckets: tuple[tuple[Bucket, float], ...]  # (bucket, weight), weights sum to 1

    def ops(self) -> list[int]:
        return sorted({b.op for b, w in self.buckets if w > 0})


def parse_ops(value: Any, key: str) -> dict[int, float]:
    """``"2-10"`` / ``7`` / ``[7, 8]`` (uniform) or ``{"2-4": 0.2, "5-7": 0.3, 11: 0.5}``."""

    def expand(spec: Any, k: str) -> list[int]:
        if isinstance(spec, bool):
            need(False, k, f"not an op: {spec!r}")
        if isinstance(spec, int):
            lo = hi = spec
        else:
            s = str(spec).strip()
            parts = s.split("-")
            need(
                len(parts) in (1, 2) and all(p.strip().isdigit() for p in parts),
                k,
                f"expected an op or a range 'min-max', got {spec!r}",
            )
            lo, hi = int(parts[0]), int(parts[-1])
        need(lo <= hi, k, f"op range min {lo} > max {hi}")
        need(lo >= 2 and hi <= MAX_OP, k, f"ops must lie in 2..{MAX_OP}, got {lo}-{hi}")
        return list(range(lo, hi + 1))

    out: dict[int, float] = {}
    if isinstance(value, Mapping):
        total = 0.0
        for spec, w in value.items():
            w = as_float(w, f"{key}.{spec}", lo=0.0)
            total += w
            ops = expand(spec, f"{key}.{spec}")
            for op in ops:
                out[op] = out.get(op, 0.0) + w / len(ops)
        need(abs(total - 1.0) <= 1e-6, key, f"weights must sum to 1, got {total:.6g}")
    else:
        items = value if isinstance(value, list) else [value]
        need(len(items) > 0, key, "empty op list")
        ops = sorted({op for i, v in enumerate(items) for op in expand(v, f"{key}[{i}]")})
        out = {op: 1.0 / len(ops) for op in ops}
    return out


_COMPONENT_KEYS = {"weight", "ops", "contexts", "modes"}


def dataset_spec(name: str, d: Any, key: str | None = None) -> DatasetSpec:
    """Validate one ``datasets.<name>`` entry."""
    key = key or f"datasets.{name}"
    check_keys(d, key, {"split", "size", "components"} | _COMPONENT_KEYS - {"weight"}, {"split", "size"})
    split = as_choice(d["split"], f"{key}.split", SPLITS)
    size = d["size"]
    check_keys(size, f"{key}.size", {"problems", "tokens"})
    need(len(size) == 1, f"{key}.size", "give exactly one of problems / tokens")
    size_kind, n = next(iter(size.items()))
    n = as_int(n, f"{key}.size.{size_kind}", lo=1)
    if "components" in d:
        need(not (_COMPONENT_KEYS & set(d)), key, "give either components or ops/contexts/modes, not both")
        comps = d["components"]
        need(isinstance(comps, list) and comps, f"{key}.components", "expected a non-empty list")
    else:
        comps = [{"weight": 1.0, **{k: d[k] for k in ("ops", "contexts", "modes") if k in d}}]
    merged: dict[Bucket, float] = {}
    total_w = 0.0
    for i, comp in enumerate(comps):
        ck = f"{key}.components[{i}]" if "components" in d else key
        check_keys(comp, ck, _COMPONENT_KEYS, {"ops"} | ({"weight"} if "components" in d else set()))
        w = as_float(comp.get("weight", 1.0), f"{ck}.weight", lo=0.0)
        total_w += w
        ops = parse_ops(comp["ops"], f"{ck}.ops")
        ctxs = weights(comp.get("contexts", list(CONTEXTS)), f"{ck}.contexts", tuple(CONTEXTS))
        modes = weights(comp.get("modes", ["forward"]), f"{ck}.modes", MODES)
        for c, wc in ctxs.items():
            for m, wm in modes.items():
                for op, wo in ops.items():
                    b = Bucket(c, m, op)
                    merged[b] = merged.get(b, 0.0) + w * wc * wm * wo
    need(
        abs(total_w - 1.0) <= 1e-6, f"{key}.components", f"component weights must sum to 1, got {total_w:.6g}"
    )
    order = sorted(merged, key=lambda b: (list(CONTEXTS).index(b.context), MODES.index(b.mode), b.op))
    spec = DatasetSpec(name, split, size_kind, n, tuple((b, merged[b]) for b in order))
    limit = MAX_SIZE[size_kind]
    need(
        n <= limit,
        f"{key}.size.{size_kind}",
        f"{n:,} is more than any run needs (limit {limit:,}; the paper's largest set is 10B tokens, about "
        f"25M problems); generating it would take about {_generation_hours(n, size_kind):,.0f} core-hours",
    )
    wanted = {b.op for b, w in spec.buckets if w > 0}
    empty = sorted(wanted - {b.op for b, _ in quotas(spec)})
    need(
        not empty,
        f"{key}.size.{size_kind}",
        f"{n:,} {size_kind} leave op(s) {empty} without a single problem: raise the size or drop the ops",
    )
    return spec


MAX_SIZE = {"problems": 10**9, "tokens": 10**12}
_PROBLEMS_PER_CORE_S, _TOKENS_PER_PROBLEM = 300.0, 200.0  # measured orders of magnitude (docs/cpu-scale.md)


def _generation_hours(n: int, kind: str) -> float:
    problems = n if kind == "problems" else n / _TOKENS_PER_PROBLEM
    return problems / _PROBLEMS_PER_CORE_S / 3600


def quotas(spec: DatasetSpec) -> list[tuple[Bucket, int]]:
    """Per-bucket targets: problems by largest remainder (exact total), or token budgets."""
    if spec.size_kind == "tokens":
        return [(b, round(w * spec.size)) for b, w in spec.buckets if round(w * spec.size) > 0]
    raw = [(b, w * spec.size) for b, w in spec.buckets]
    base = [(b, math.floor(x)) for b, x in raw]
    short = spec.size - sum(n for _, n in base)
    by_rest = sorted(range(len(raw)), key=lambda i: (-(raw[i][1] - base[i][1]), i))
    extra = set(by_rest[:short])
    return [(b, n + (i in extra)) for i, (b, n) in enumerate(base) if n + (i in extra) > 0]


# --------------------------------------------------------------------------------------------------
# generation


def _take(args: tuple[TaskSpec, str, Bucket, str, int]) -> list[Example]:
    task, split, b, kind, target = args
    out: list[Example] = []
    got = 0
    for ex in stream(task, split, b.context, b.mode, b.op):
        out.append(ex)
        got += 1 if kind == "problems" else count_tokens(ex.text)
        if got >= target:
            return out
    return out  # pragma: no cover - stream is infinite


def generate(task: TaskSpec, spec: DatasetSpec, workers: int = 1, progress: bool = False) -> list[Example]:
    """All examples of a dataset, in bucket order (context, mode, op), then stream order."""
    jobs = [(task, spec.split, b, spec.size_kind, n) for b, n in quotas(spec)]
    if progress:
        from tqdm import tqdm
    if workers <= 1:
        it = map(_take, jobs)
        if progress:
            it = tqdm(it, total=len(jobs), desc=f"generate {spec.name}", unit="bucket")
        results = list(it)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            it = pool.map(_take, jobs)
            if progress:
                it = tqdm(it, total=len(jobs), desc=f"generate {spec.name}", unit="bucket")
            results = list(it)
    return [ex for chunk in results for ex in chunk]


# --------------------------------------------------------------------------------------------------
# Parquet schema

NODE_TYPE = pa.struct(
    [
        ("id", pa.int16()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("container", pa.string()),
        ("item", pa.string()),
        ("role", pa.string()),
        ("value", pa.int64()),
        ("form_a", pa.int64()),
        ("form_b", pa.int64()),
        ("const", pa.int64()),
        ("combine", pa.string()),
        ("tail", pa.string()),
        ("inputs", pa.list_(pa.int16())),
    ]
)
EDGE_TYPE = pa.struct([("src", pa.int16()), ("dst", pa.int16()), ("kind", pa.string())])
GRAPH_TYPE = pa.struct(
    [
        ("nodes", pa.list_(NODE_TYPE)),
        ("edges", pa.list_(EDGE_TYPE)),
        ("order", pa.list_(pa.int16())),
        ("step_order", pa.list_(pa.int16())),
        ("final", pa.int16()),
        ("query", pa.int16()),
        ("hidden", pa.int16()),
    ]
)
GOLD_TYPE = pa.list_(
    pa.struct(
        [
            ("name", pa.string()),
            ("parents", pa.list_(pa.string())),
            ("a", pa.int64()),
            ("b", pa.int64()),
        ]
    )
)

SCHEMA = pa.schema(
    [
        ("id", pa.string()),  # readable: <context>-<mode>-op<op>-<split>-<ordinal>
        ("uid", pa.string()),  # sha256(problem, question, solution)
        ("qid", pa.string()),  # sha256(problem, question): split ownership and dedup
        ("dataset", pa.string()),
        ("split", pa.string()),
        ("context", pa.string()),  # zoo / school / festival
        ("context_label", pa.string()),  # A / B / C
        ("template", pa.string()),
        ("mode", pa.string()),  # forward / reverse
        ("d", pa.int8()),
        ("modulus", pa.int32()),  # null: plain integers
        ("op", pa.int16()),
        ("ordinal", pa.int32()),
        ("seed_key", pa.string()),
        ("attempt", pa.int32()),
        ("problem", pa.string()),
        ("question", pa.string()),
        ("solution", pa.string()),  # trace + " Answer: N."
        ("answer", pa.int64()),
        ("prompt", pa.string()),  # "<question> ... </question> <solution>"
        ("text", pa.string()),  # the serialized training text
        ("n_tokens", pa.int32()),
        ("n_define_steps", pa.int16()),
        ("n_distractors", pa.int16()),
        ("n_sentences", pa.int16()),
        ("max_value", pa.int64()),
        ("graph", GRAPH_TYPE),
        ("gold", GOLD_TYPE),
    ]
)


def _edges(ex: Example) -> list[dict]:
    out = []
    for n in ex.graph.nodes:
        if n.role == "unused" and n.kind != "total":
            continue
        kind = "implicit" if n.kind == "total" else "explicit"
        out.extend({"src": j, "dst": n.id, "kind": kind} for j in n.inputs)
        if n.const is not None:
            out.append({"src": -1, "dst": n.id, "kind": "const"})
    return out


def row(ex: Example, dataset: str, modulus: int | None) -> dict[str, Any]:
    g, r = ex.graph, ex.rendered
    ctx = CONTEXTS[ex.context]
    nodes = [
        {
            "id": n.id,
            "name": r.names[n.id],
            "kind": n.kind,
            "container": n.container,
            "item": n.item,
            "role": n.role,
            "value": int(n.value) if n.role != "unused" or n.kind == "total" else None,
            "form_a": int(n.form.a) if n.form is not None else None,
            "form_b": int(n.form.b) if n.form is not None else None,
            "const": n.const,
            "combine": n.combine,
            "tail": n.tail,
            "inputs": list(n.inputs),
        }
        for n in g.nodes
    ]
    core_values = [int(g.nodes[i].value) for i in g.order]
    return {
        "id": f"{ex.context}-{ex.mode[:3]}-op{ex.op:02d}-{ex.split}-{ex.ordinal:07d}",
        "uid": ex.uid,
        "qid": ex.qid,
        "dataset": dataset,
        "split": ex.split,
        "context": ex.context,
        "context_label": ctx.label,
        "template": ctx.template,
        "mode": ex.mode,
        "d": 2,
        "modulus": modulus,
        "op": ex.op,
        "ordinal": ex.ordinal,
        "seed_key": ex.seed_key,
        "attempt": ex.attempt,
        "problem": r.problem,
        "question": r.question,
        "solution": ex.solution,
        "answer": int(r.answer),
        "prompt": ex.prompt,
        "text": ex.text,
        "n_tokens": count_tokens(ex.text),
        "n_define_steps": len(g.order),
        "n_distractors": len(g.distractors()),
        "n_sentences": len(r.statements),
        "max_value": max(core_values),
        "graph": {
            "nodes": nodes,
            "edges": _edges(ex),
            "order": list(g.order),
            "step_order": list(r.step_order),
            "final": g.final,
            "query": g.query,
            "hidden": g.hidden,
        },
        "gold": [
            {"name": gn.name, "parents": sorted(gn.parents), "a": int(gn.value.a), "b": int(gn.value.b)}
            for gn in ex.gold
        ],
    }


# rows per Parquet row group: fixed, so a file's bytes never depend on chunking; it also bounds the
# rows a writer holds (50,000 made peak memory grow with the dataset up to that many rows)
ROW_GROUP = 8_192
CHUNK_ROWS = 2_048  # rows a generation worker renders before writing them out (memory, not bytes)
MERGE_ROWS = 512  # rows the merge reads at a time: a group overshoots its 8,192 rows by less than this


class RowGroupWriter:
    """A Parquet writer that writes exactly ``row_group`` rows per row group (the last one fewer),
    each from contiguous arrays, whatever sizes its tables come in: the file is a function of the
    rows alone. Holds one row group in memory, plus the rows of the table that overfilled it and, while
    a group is made contiguous, the copy of one column."""

    def __init__(self, path: str | Path, schema: pa.Schema, row_group: int | None = None) -> None:
        self.writer = pq.ParquetWriter(path, schema, compression="zstd")
        self.row_group = row_group or ROW_GROUP
        self.pending: list[pa.Table] = []
        self.n = 0

    def add(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.n += table.num_rows
        while self.n >= self.row_group:
            self._flush(self.row_group)

    def _flush(self, rows: int) -> None:
        t = pa.concat_tables(self.pending)
        rest, schema = t.slice(rows), t.schema
        columns = t.slice(0, rows).columns
        self.pending, self.n = ([rest] if rest.num_rows else []), rest.num_rows
        del t
        # made contiguous one column at a time, each column's pieces dropped once it is copied: the
        # pieces live beside the copy of one column, not of the whole group (the largest column, the
        # graph, is a third of a group; with the merge's 512-row reads, generation's Arrow peak at 4M
        # tokens fell from 93-98 MB to 51 MB for 33-37 MB groups: docs/log.md)
        for i, col in enumerate(columns):
            columns[i] = None
            columns[i] = col.combine_chunks()
            del col
        self.writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=rows)

    def close(self) -> None:
        if self.n:
            self._flush(self.n)
        self.writer.close()


def schema_with_meta(spec: DatasetSpec, task: TaskSpec) -> pa.Schema:
    """``SCHEMA`` with the task and dataset specs in its metadata: a dataset says how it was made."""
    meta = {
        "interplay.task": json.dumps(task.to_dict(), sort_keys=True),
        "interplay.dataset": json.dumps(
            {
                "name": spec.name,
                "split": spec.split,
                "size": {spec.size_kind: spec.size},
                "buckets": [[b.context, b.mode, b.op, w] for b, w in spec.buckets],
            },
            sort_keys=True,
        ),
        "interplay.generator_version": GENERATOR_VERSION,
        "interplay.vocab_version": VOCAB_VERSION,
    }
    return SCHEMA.with_metadata(meta)


def _tables(examples: Iterable[Example], dataset: str, modulus: int | None) -> Iterator[pa.Table]:
    """The examples' rows, ``CHUNK_ROWS`` at a time."""
    rows: list[dict[str, Any]] = []
    for ex in examples:
        rows.append(row(ex, dataset, modulus))
        if len(rows) == CHUNK_ROWS:
            yield pa.Table.from_pylist(rows, schema=SCHEMA)
            rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=SCHEMA)


def write(path: str | Path, examples: Iterable[Example], spec: DatasetSpec, task: TaskSpec) -> None:
    """Write a dataset atomically, with the task and dataset specs in the file metadata; examples are
    rendered and written ``CHUNK_ROWS`` at a time."""
    schema = schema_with_meta(spec, task)
    with atomic_path(path) as tmp:
        w = RowGroupWriter(tmp, schema)
        for t in _tables(examples, spec.name, task.modulus):
            w.add(t.cast(schema))
        w.close()


class Tally:
    """The summary counts of a dataset, accumulated one example at a time (``summary``)."""

    def __init__(self) -> None:
        self.problems = self.tokens = self.attempts = 0
        self.by: dict[str, dict[str, int]] = {"op": {}, "context": {}, "mode": {}}

    def add(self, ex: Example) -> None:
        for k, v in (("op", str(ex.op)), ("context", ex.context), ("mode", ex.mode)):
            self.by[k][v] = self.by[k].get(v, 0) + 1
        self.problems += 1
        self.tokens += count_tokens(ex.text)
        self.attempts += ex.attempt + 1

    def merge(self, other: Tally) -> None:
        self.problems += other.problems
        self.tokens += other.tokens
        self.attempts += other.attempts
        for k, counts in other.by.items():
            for v, n in counts.items():
                self.by[k][v] = self.by[k].get(v, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "problems": self.problems,
            "tokens": self.tokens,
            "mean_tokens": self.tokens / max(self.problems, 1),
            "attempts_per_problem": self.attempts / max(self.problems, 1),
            **{f"by_{k}": v for k, v in self.by.items()},
        }


def _write_bucket(args: tuple[TaskSpec, DatasetSpec, Bucket, int, str]) -> Tally:
    """One bucket's quota, streamed into its own part file (rows in stream order)."""
    task, spec, b, target, part = args
    tally = Tally()

    def counted() -> Iterator[Example]:
        got = 0
        for ex in stream(task, spec.split, b.context, b.mode, b.op):
            tally.add(ex)
            yield ex
            got += 1 if spec.size_kind == "problems" else count_tokens(ex.text)
            if got >= target:
                return

    w = RowGroupWriter(part, SCHEMA, MERGE_ROWS)  # a part is temporary: small groups, read back lean
    for t in _tables(counted(), spec.name, task.modulus):
        w.add(t)
    w.close()
    return tally


def build(
    path: str | Path, task: TaskSpec, spec: DatasetSpec, workers: int = 1, progress: bool = False
) -> dict[str, Any]:
    """Generate and write a dataset in bounded memory: each bucket streams into a part file (the
    buckets across ``workers`` processes), then the parts are copied in bucket order into row groups
    of ``ROW_GROUP`` rows. The file equals ``write(path, generate(task, spec), spec, task)`` byte for
    byte, whatever the worker count. Returns the summary counts (``summary``)."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent, f".{path.stem}.parts.")  # a killed build's parts (a dataset's size)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.parts.") as parts_dir:
        jobs = [(task, spec, b, n, f"{parts_dir}/{i:05d}.parquet") for i, (b, n) in enumerate(quotas(spec))]
        if workers <= 1:
            tallies = map(_write_bucket, jobs)
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            tallies = pool.map(_write_bucket, jobs)
        if progress:
            from tqdm import tqdm

            tallies = tqdm(tallies, total=len(jobs), desc=f"generate {spec.name}", unit="bucket")
        total = Tally()
        try:
            for t in tallies:
                total.merge(t)
        finally:
            if workers > 1:
                pool.shutdown(cancel_futures=True)
        schema = schema_with_meta(spec, task)
        with atomic_path(path) as tmp:
            w = RowGroupWriter(tmp, schema)
            for job in jobs:
                for batch in parquet_batches(job[-1], MERGE_ROWS):
                    w.add(pa.Table.from_batches([batch]).cast(schema))
            w.close()
    return total.as_dict()


def read_meta(path: str | Path) -> dict[str, Any]:
    md = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in md.items() if k.decode().startswith("interplay.")}


def summary(examples: Iterable[Example]) -> dict[str, Any]:
    """Counts a researcher checks first: per op, context, mode; tokens; attempts per problem."""
    tally = Tally()
    for ex in examples:
        tally.add(ex)
    return tally.as_dict()
