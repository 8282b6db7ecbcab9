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
is assembled from a side file in fixed chunks at the end). The files are a function of the dataset
and the tokenizer alone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from interplay.io import parquet_batches
from interplay.tokenizer import EOS

SOLUTION = "<solution>"
BATCH_ROWS = 1024
DOC_CHUNK = 1 << 20  # document rows copied into docs.npy at a time


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def build(dataset: Path, tok: Tokenizer, out: Path, batch_rows: int = BATCH_ROWS) -> dict:
    """Tokenise ``dataset`` (its ``text`` column) into ``out``; written next to it, then renamed."""
    dtype = dtype_for(tok.get_vocab_size())
    sol = tok.token_to_id(SOLUTION)
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n_docs = at = 0
    ids_hash = hashlib.sha256()
    try:
        with open(tmp / "ids.bin", "wb") as f, open(tmp / "docs.bin", "wb") as fd:
            for batch in parquet_batches(dataset, batch_rows, ["text"]):
                # encode_batch_fast: the same ids as encode_batch, without per-token offsets and strings
                rows = []
                for enc in tok.encode_batch_fast(batch.column("text").to_pylist()):
                    ids = np.asarray([*enc.ids, EOS], dtype=dtype)
                    hit = np.flatnonzero(ids == sol) if sol is not None else ()
                    rows.append((at, len(ids), int(hit[0]) + 1 if len(hit) else 0))
                    at += len(ids)
                    b = ids.tobytes()
                    ids_hash.update(b)
                    f.write(b)
                fd.write(np.asarray(rows, dtype=np.int64).reshape(-1, 3).tobytes())
                n_docs += len(rows)
        _docs_npy(tmp / "docs.bin", tmp / "docs.npy", n_docs)
        meta = {
            "dtype": dtype.name,
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
