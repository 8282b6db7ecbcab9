"""Every file a stage reads, opened through one place.

A missing or damaged input (a truncated Parquet file, a garbage ``tokenizer.json``, a cut-off
``model.safetensors``, a ``config.json`` that is not JSON) becomes an ``InputError`` whose message
starts with the file's path and says what the file should have been; ``runtime.run_stage`` prints it
as one line with the stage's name and exits 2. Checkpoints are checked from their headers alone
(``checkpoint``), so a stage can refuse a damaged model before it loads and packs a dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
    import torch
    from tokenizers import Tokenizer

    from interplay.model import ModelConfig, Qwen2


class InputError(ValueError):
    """An input file is missing or unreadable; the message starts with its path."""


def _damaged(path: Path, what: str, err: BaseException) -> InputError:
    detail = (str(err).strip().splitlines() or [""])[0][:200]
    return InputError(f"{path}: {what} is damaged or unreadable ({type(err).__name__}: {detail})")


def _exists(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{path}: {what} not found")


def parquet(path: str | Path, what: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A Parquet table (optionally some columns), or an ``InputError`` naming the file."""
    import polars as pl

    p = Path(path)
    _exists(p, what)
    try:
        return pl.read_parquet(p, columns=columns)
    except Exception as err:  # polars/pyarrow raise many kinds for a damaged file
        raise _damaged(p, what, err) from None


def parquet_schema(path: str | Path, what: str, columns: list[str]) -> None:
    """A readable Parquet file holding ``columns`` (its footer alone is read)."""
    import pyarrow.parquet as pq

    p = Path(path)
    _exists(p, what)
    try:
        names = pq.read_schema(p).names
    except Exception as err:
        raise _damaged(p, what, err) from None
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{p}: {what} has no column {', '.join(missing)}")


def prompt_pool(path: str | Path, what: str, tok, ops: tuple[int, ...] | None):
    """An RL prompt pool over a Parquet dataset (``interplay.pool.read_pool``): its columns checked
    from the footer, then one indexing pass; a file that fails to read is named."""
    import pyarrow as pa

    from interplay.pool import COLUMNS, read_pool

    p = Path(path)
    parquet_schema(p, what, [c for c in COLUMNS if c != "text"])
    try:
        return read_pool(p, tok, ops)
    except (OSError, pa.ArrowException) as err:
        raise _damaged(p, what, err) from None


def token_stream(directory: str | Path, tokenizer_file: str | Path):
    """A built token stream (``interplay.tokens.Stream``): each of its files checked (an error names
    the file), and its tokenizer against the one that trains on it."""
    import hashlib

    import numpy as np
    from tokenizers import Tokenizer

    from interplay.tokens import Stream

    d = Path(directory)
    meta = json_file(d / "meta.json", "token stream meta")
    if not isinstance(meta, dict) or not {"dtype", "n_docs", "n_tokens"} <= set(meta):
        raise InputError(f"{d / 'meta.json'}: token stream meta lacks dtype, n_docs or n_tokens")
    p = d / "docs.npy"
    _exists(p, "token stream documents")
    try:
        docs = np.load(p, mmap_mode="r")
    except Exception as err:
        raise _damaged(p, "token stream documents", err) from None
    if docs.shape != (meta["n_docs"], 3):
        raise InputError(f"{p}: shape {docs.shape}, meta.json says {meta['n_docs']} documents; rebuild")
    p = d / "ids.bin"
    _exists(p, "token ids")
    dtype = np.dtype(meta["dtype"])
    if p.stat().st_size != meta["n_tokens"] * dtype.itemsize:
        raise InputError(f"{p}: {p.stat().st_size} bytes, meta.json says {meta['n_tokens']} tokens; rebuild")
    ids = np.memmap(p, dtype=dtype, mode="r") if meta["n_tokens"] else np.zeros(0, dtype=dtype)
    sha = hashlib.sha256(Tokenizer.from_file(str(tokenizer_file)).to_str().encode()).hexdigest()
    if meta.get("tokenizer_sha256") != sha:
        raise InputError(f"{d}: token stream built with another tokenizer than {tokenizer_file}; rebuild it")
    return Stream(ids, docs, meta)


def json_file(path: str | Path, what: str) -> Any:
    p = Path(path)
    _exists(p, what)
    try:
        return json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise _damaged(p, what, err) from None


def tokenizer(path: str | Path) -> Tokenizer:
    from interplay import tokenizer as T

    p = Path(path)
    _exists(p, "tokenizer")
    try:
        return T.load(p)
    except Exception as err:  # the tokenizers library raises a bare Exception on a bad file
        raise _damaged(p, "tokenizer", err) from None


def checkpoint(directory: str | Path) -> ModelConfig:
    """Check a checkpoint folder before any compute: ``config.json`` describes a model,
    ``model.safetensors`` holds exactly its tensors with the right shapes (read from the header) and,
    when ``config.json`` records it, has the content hash it was saved with. Returns the config."""
    from safetensors import safe_open

    from interplay import model as M

    d = Path(directory)
    cfg_raw = json_file(d / "config.json", "checkpoint config")
    try:
        cfg = M.ModelConfig.from_hf(cfg_raw)
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(d / "config.json", "checkpoint config", err) from None
    weights = d / "model.safetensors"
    _exists(weights, "checkpoint weights")
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except Exception as err:  # SafetensorError for a cut-off header
        raise _damaged(weights, "checkpoint weights", err) from None
    want = M.expected_shapes(cfg)
    if shapes != want:
        missing = sorted(set(want) - set(shapes))
        bad = sorted(k for k in set(want) & set(shapes) if want[k] != shapes[k])
        extra = sorted(set(shapes) - set(want))
        raise InputError(
            f"{weights}: checkpoint weights do not match its config.json "
            f"(missing {missing[:3]}, wrong shape {bad[:3]}, unexpected {extra[:3]})"
        )
    want = cfg_raw.get(M.WEIGHTS_HASH_KEY)
    if want is not None and M.file_sha256(weights) != want:
        raise InputError(
            f"{weights}: checkpoint weights changed since they were saved (content hash differs)"
        )
    return cfg


def model(directory: str | Path, device: str | torch.device = "cpu") -> Qwen2:
    """A checkpoint checked by ``checkpoint``, then loaded (a damaged body is still an InputError)."""
    from interplay import model as M

    checkpoint(directory)
    try:
        return M.load(directory, device)
    except Exception as err:
        raise _damaged(Path(directory) / "model.safetensors", "checkpoint weights", err) from None
