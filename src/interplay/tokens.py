"""Token streams: a training dataset tokenised once into a flat memory-mapped file (as nanoGPT's
``train.bin``), so pre- and mid-training read their blocks by index instead of holding every token.

``data/tokens/<dataset>/`` holds

- ``ids.bin``: every document's token ids (``text`` + EOS) back to back, uint16 when the vocabulary
  fits (uint32 otherwise);
- ``docs.npy``: one row per document, (offset into ids, length, completion start): the completion
  start is the first token after ``<solution>`` (0 when there is none), for the loss mask;
- ``meta.json``: dtype, counts, the tokenizer's and files' sha256.

The dataset is read and tokenised ``batch_rows`` rows at a time, and each batch's ids and document
rows go straight to disk, so memory holds one batch of text whatever the dataset's size (``docs.npy``
is assembled from a side file in fixed chunks at the end). With ``workers`` processes each takes a
contiguous share of the row groups and the shares are joined in order. The files are a function of
the dataset and the tokenizer alone, whatever the batch size or worker count.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tokenizers import Tokenizer

from interplay.io import parquet_batches, parquet_file
from interplay.tokenizer import EOS

SOLUTION = "<solution>"
BATCH_ROWS = 1024
DOC_CHUNK = 1 << 20  # document rows copied into docs.npy at a time
COPY_BYTES = 1 << 24  # bytes of a share's ids copied at a time


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def build(dataset: Path, tok: Tokenizer, out: Path, batch_rows: int = BATCH_ROWS, workers: int = 1) -> dict:
    """Tokenise ``dataset`` (its ``text`` column) into ``out``; written next to it, then renamed. With
    ``workers`` > 1 the row groups are split into that many contiguous shares, each tokenised by its
    own process into side files that are then joined in order: the same bytes as one process."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ids_hash = hashlib.sha256()
    try:
        with open(tmp / "ids.bin", "wb") as f, open(tmp / "docs.bin", "wb") as fd:
            parts = shares(dataset, workers)
            if len(parts) <= 1:
                n_docs, at = _encode(parquet_batches(dataset, batch_rows, ["text"]), tok, f, fd, ids_hash)
            else:
                n_docs, at = _encode_in_parallel(dataset, tok, tmp, batch_rows, parts, f, fd, ids_hash)
        _docs_npy(tmp / "docs.bin", tmp / "docs.npy", n_docs)
        meta = {
            "dtype": dtype_for(tok.get_vocab_size()).name,
            "vocab_size": tok.get_vocab_size(),
            "n_docs": n_docs,
            "n_tokens": at,
            "ids_sha256": ids_hash.hexdigest(),
            "docs_sha256": _file_sha256(tmp / "docs.npy"),
            "tokenizer_sha256": hashlib.sha256(tok.to_str().encode()).hexdigest(),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _encode(batches: Iterable, tok: Tokenizer, f: BinaryIO, fd: BinaryIO, ids_hash=None) -> tuple[int, int]:
    """Each batch's texts tokenised (+ EOS) onto ``f``, their (offset, length, completion start) rows
    onto ``fd``, offsets from 0; returns (documents, tokens)."""
    dtype, sol = dtype_for(tok.get_vocab_size()), tok.token_to_id(SOLUTION)
    n_docs = at = 0
    for batch in batches:
        # encode_batch_fast: the same ids as encode_batch, without per-token offsets and strings
        rows = []
        for enc in tok.encode_batch_fast(batch.column("text").to_pylist()):
            ids = np.asarray([*enc.ids, EOS], dtype=dtype)
            hit = np.flatnonzero(ids == sol) if sol is not None else ()
            rows.append((at, len(ids), int(hit[0]) + 1 if len(hit) else 0))
            at += len(ids)
            b = ids.tobytes()
            if ids_hash is not None:
                ids_hash.update(b)
            f.write(b)
        fd.write(np.asarray(rows, dtype=np.int64).reshape(-1, 3).tobytes())
        n_docs += len(rows)
    return n_docs, at


def _encode_share(args: tuple[str, str, list[int], str, int]) -> tuple[int, int]:
    """One worker's share: row groups ``groups`` into side files ``<prefix>.ids`` / ``<prefix>.docs``."""
    dataset, tok_json, groups, prefix, batch_rows = args
    batches = parquet_file(dataset).iter_batches(batch_size=batch_rows, row_groups=groups, columns=["text"])
    with open(f"{prefix}.ids", "wb") as f, open(f"{prefix}.docs", "wb") as fd:
        return _encode(batches, Tokenizer.from_str(tok_json), f, fd)


def shares(dataset: Path, workers: int) -> list[list[int]]:
    """``dataset``'s row groups in contiguous shares, one per tokenising process: ``workers`` of them,
    or fewer when there are fewer row groups (at least one share)."""
    groups = parquet_file(dataset).metadata.num_row_groups
    return [s.tolist() for s in np.array_split(np.arange(groups), max(1, min(workers, groups)))]


def _encode_in_parallel(
    dataset, tok, tmp: Path, batch_rows: int, parts: list[list[int]], f, fd, ids_hash
) -> tuple[int, int]:
    """The row-group shares ``parts`` tokenised side by side, then joined in order onto ``f`` /
    ``fd`` (each share's document offsets shifted by the tokens before it)."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [
        (str(dataset), tok.to_str(), share, str(tmp / f"share{k:04d}"), batch_rows)
        for k, share in enumerate(parts)
    ]
    with ProcessPoolExecutor(max_workers=len(parts)) as pool:
        counts = list(pool.map(_encode_share, jobs))
    n_docs = at = 0
    for (*_, prefix, _), (docs_k, tokens_k) in zip(jobs, counts):
        with open(f"{prefix}.ids", "rb") as src:
            while chunk := src.read(COPY_BYTES):
                ids_hash.update(chunk)
                f.write(chunk)
        if docs_k:
            rows = np.memmap(f"{prefix}.docs", dtype=np.int64, mode="r", shape=(docs_k, 3))
            for i in range(0, docs_k, DOC_CHUNK):
                part = np.array(rows[i : i + DOC_CHUNK])
                part[:, 0] += at
                fd.write(part.tobytes())
            del rows
        Path(f"{prefix}.ids").unlink()
        Path(f"{prefix}.docs").unlink()
        n_docs, at = n_docs + docs_k, at + tokens_k
    return n_docs, at


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _docs_npy(raw: Path, out: Path, n_docs: int) -> None:
    """``docs.npy`` (int64, n_docs x 3) from the raw rows in ``raw``, copied in fixed chunks (the same
    bytes ``np.save`` writes for the whole array); ``raw`` is removed."""
    docs = np.lib.format.open_memmap(out, mode="w+", dtype=np.int64, shape=(n_docs, 3))
    if n_docs:
        src = np.memmap(raw, dtype=np.int64, mode="r", shape=(n_docs, 3))
        for i in range(0, n_docs, DOC_CHUNK):
            docs[i : i + DOC_CHUNK] = src[i : i + DOC_CHUNK]
        del src
    docs.flush()
    del docs
    raw.unlink()


@dataclass
class Stream:
    """A built token stream, memory-mapped: ``ids`` (all tokens) and ``docs`` (offset, length, start)."""

    ids: np.ndarray
    docs: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return self.docs.shape[0]

    def doc(self, i: int) -> tuple[np.ndarray, int]:
        """Document ``i``'s ids and its completion start."""
        off, n, start = (int(x) for x in self.docs[i])
        return self.ids[off : off + n], start
