"""The RL prompt pool, in memory bounded by a step's prompts rather than by the pool.

A pool keeps a few numbers per prompt in arrays (its row in the source, op, problem key, prompt and
gold-completion lengths: 28 bytes a prompt, about 6 MB for the paper's 204,800 prompts). A prompt's
token ids, gold graph, answer and modulus are read from the source when a step draws it. The source
is a Parquet dataset (read one row group at a time, only the columns asked for) or, in tests and
probes, a list of rows. The token ids are the tokenizer's ids of the prompt text, as before, so the
sampled tokens and every RL result are those of the in-memory pool.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from tokenizers import Tokenizer

from interplay.evaluate import gold_completion, gold_nodes, problem_key, token_lengths
from interplay.io import parquet_file
from interplay.params import need

INDEX_BATCH = 1024  # rows tokenised at a time while indexing (peak memory: one batch of texts)
COLUMNS = ("prompt", "gold", "answer", "op", "uid", "modulus", "text")  # "text" optional (gold lengths)


class Prompt(NamedTuple):
    """One drawn prompt, with what scoring its rollouts needs."""

    ids: list[int]
    gold: list
    answer: int
    modulus: int | None
    key: int


class Rows:
    """A list of rows (dicts) as a pool source."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self) -> set[str]:
        return set(self.rows[0]) if self.rows else set()

    def batches(self, columns: list[str], size: int) -> Iterator[list[dict]]:
        for i in range(0, len(self.rows), size):
            yield [{c: r[c] for c in columns} for r in self.rows[i : i + size]]

    def take(self, rows: Sequence[int], columns: list[str]) -> list[dict]:
        return [{c: self.rows[i][c] for c in columns} for i in rows]


class ParquetRows:
    """A Parquet file as a pool source: batches stream in file order; ``take`` reads only the row
    groups that hold the requested rows, one at a time, and only the columns asked for."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.file = parquet_file(self.path)
        sizes = [self.file.metadata.row_group(g).num_rows for g in range(self.file.num_row_groups)]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def columns(self) -> set[str]:
        return set(self.file.schema_arrow.names)

    def batches(self, columns: list[str], size: int) -> Iterator[list[dict]]:
        for batch in self.file.iter_batches(batch_size=size, columns=columns):
            yield batch.to_pylist()

    def take(self, rows: Sequence[int], columns: list[str]) -> list[dict]:
        rows = np.asarray(rows, dtype=np.int64)
        group = np.searchsorted(self.starts, rows, side="right") - 1
        out: list[dict | None] = [None] * len(rows)
        for g in np.unique(group):
            at = np.flatnonzero(group == g)
            table = self.file.read_row_group(int(g), columns=columns)
            picked = table.take(rows[at] - self.starts[g]).to_pylist()
            for j, row in zip(at, picked):
                out[j] = row
        return out  # type: ignore[return-value]


@dataclass
class Pool:
    """The prompts an RL run draws from (see the module docstring). ``gold_len`` is None when the
    source has no ``text`` column (then ``max_new_tokens: auto`` cannot be resolved)."""

    source: Any  # Rows | ParquetRows
    tok: Tokenizer
    rows: np.ndarray  # int64: the prompt's row in the source
    ops: np.ndarray  # int16
    keys: np.ndarray  # int64: evaluate.problem_key of the uid (the sampler's per-problem seed)
    prompt_len: np.ndarray  # int32: tokens of the prompt
    gold_len: np.ndarray | None  # int32: tokens of the gold completion (everything after <solution>)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def get(self, idx: Sequence[int]) -> list[Prompt]:
        """The prompts at pool positions ``idx``, in that order."""
        rows = self.source.take(
            self.rows[np.asarray(idx, dtype=np.int64)], ["prompt", "gold", "answer", "modulus"]
        )
        enc = self.tok.encode_batch([r["prompt"] for r in rows])
        return [
            Prompt(e.ids, gold_nodes(r["gold"]), r["answer"], r["modulus"], int(self.keys[i]))
            for e, r, i in zip(enc, rows, idx)
        ]


def index(source: Any, tok: Tokenizer, ops: tuple[int, ...] | None) -> Pool:
    """One pass over the source in batches: keep each prompt at ``ops`` (all when None) as a few
    numbers; token ids, gold graphs and answers are not kept. The arrays are allocated once for every
    row of the source and trimmed in place at the end (lengths from ``evaluate.token_lengths``): peak
    memory is one batch's texts plus the arrays, whatever the pool's size."""
    with_text = "text" in source.columns()
    columns = ["prompt", "op", "uid"] + (["text"] if with_text else [])
    dtypes = {"rows": np.int64, "ops": np.int16, "keys": np.int64, "plen": np.int32, "glen": np.int32}
    cols = {k: np.zeros(len(source) if k != "glen" or with_text else 0, dtype=dt) for k, dt in dtypes.items()}
    at = n = 0
    for batch in source.batches(columns, INDEX_BATCH):
        kept = [(j, r) for j, r in enumerate(batch) if ops is None or r["op"] in ops]
        end = n + len(kept)
        cols["rows"][n:end] = [at + j for j, _ in kept]
        cols["ops"][n:end] = [r["op"] for _, r in kept]
        cols["keys"][n:end] = [problem_key(r["uid"]) for _, r in kept]
        cols["plen"][n:end] = token_lengths(tok, [r["prompt"] for _, r in kept])
        if with_text:  # the completion the model should write: everything after <solution>
            cols["glen"][n:end] = token_lengths(tok, [gold_completion(r["text"]) for _, r in kept])
        at, n = at + len(batch), end
    need(n > 0, "rl", "no RL prompt left after the op filter")
    for k, a in cols.items():
        if k != "glen" or with_text:
            a.resize(n, refcheck=False)  # in place: no second copy of the arrays
    glen = cols["glen"] if with_text else None
    return Pool(source, tok, cols["rows"], cols["ops"], cols["keys"], cols["plen"], glen)


def make_pool(rows: list[dict], tok: Tokenizer, ops: tuple[int, ...] | None) -> Pool:
    """A pool over rows in memory (tests, probes)."""
    return index(Rows(rows), tok, ops)


def read_pool(path: str | Path, tok: Tokenizer, ops: tuple[int, ...] | None) -> Pool:
    """A pool over a Parquet dataset, read on demand (the RL stage). The file and its columns are
    checked by the caller (``inputs.parquet_schema``)."""
    return index(ParquetRows(path), tok, ops)
