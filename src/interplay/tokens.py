"""Token streams: a training dataset tokenised once into a flat memory-mapped file (as nanoGPT's
``train.bin``), so pre- and mid-training read their blocks by index instead of holding every token.

``data/tokens/<dataset>/`` holds

- ``ids.bin``: every document's token ids (``text`` + EOS) back to back, uint16 when the vocabulary
  fits (uint32 otherwise);
- ``docs.npy``: one row per document, (offset into ids, length, completion start): the completion
  start is the first token after ``<solution>`` (0 when there is none), for the loss mask;
- ``meta.json``: dtype, counts, the tokenizer's and files' sha256.

The dataset is read and tokenised ``batch_rows`` rows at a time, so memory holds one batch of text
plus three integers per document. The files are a function of the dataset and the tokenizer alone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from interplay.tokenizer import EOS

SOLUTION = "<solution>"
BATCH_ROWS = 4096


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
    offsets, lengths, starts = [], [], []
    at = 0
    ids_hash = hashlib.sha256()
    try:
        with open(tmp / "ids.bin", "wb") as f:
            for batch in pq.ParquetFile(dataset).iter_batches(batch_size=batch_rows, columns=["text"]):
                for enc in tok.encode_batch(batch.column("text").to_pylist()):
                    ids = np.asarray([*enc.ids, EOS], dtype=dtype)
                    hit = np.flatnonzero(ids == sol) if sol is not None else ()
                    offsets.append(at)
                    lengths.append(len(ids))
                    starts.append(int(hit[0]) + 1 if len(hit) else 0)
                    at += len(ids)
                    b = ids.tobytes()
                    ids_hash.update(b)
                    f.write(b)
        docs = np.stack([np.asarray(x, dtype=np.int64) for x in (offsets, lengths, starts)], axis=1)
        np.save(tmp / "docs.npy", docs.reshape(-1, 3))
        meta = {
            "dtype": dtype.name,
            "vocab_size": tok.get_vocab_size(),
            "n_docs": len(offsets),
            "n_tokens": at,
            "ids_sha256": ids_hash.hexdigest(),
            "docs_sha256": hashlib.sha256((tmp / "docs.npy").read_bytes()).hexdigest(),
            "tokenizer_sha256": hashlib.sha256(tok.to_str().encode()).hexdigest(),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


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
