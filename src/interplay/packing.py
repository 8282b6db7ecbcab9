"""Tokenize serialized examples and pack them into fixed-length training blocks.

Each document is ``text + EOS``. Documents longer than ``seq_len`` are dropped (counted), never
cut; the rest are packed best-fit-decreasing into blocks of ``seq_len`` tokens (paper: FFD
packing, the rest padded). Every block carries per-token positions
(restarting at 0 for each document), document ids (for a block-diagonal attention mask) and a loss
mask (all tokens, or only the completion after ``<solution>``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from interplay.tokenizer import EOS, PAD

SOLUTION = "<solution>"


@dataclass
class Blocks:
    tokens: np.ndarray  # (N, T) int32
    positions: np.ndarray  # (N, T) int16/int32
    docs: np.ndarray  # (N, T) int32, -1 for padding
    loss: np.ndarray  # (N, T) bool: is token t+1 a target of position t
    n_docs: int
    n_dropped: int  # documents longer than seq_len

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def real_tokens(self) -> int:
        return int((self.docs >= 0).sum())

    @property
    def fill(self) -> float:
        """Share of token slots holding document tokens (the rest is padding)."""
        return self.real_tokens / max(1, self.tokens.size)


def encode(tok: Tokenizer, texts: list[str], loss_on: str) -> list[tuple[list[int], int]]:
    """(ids + EOS, index of the first completion token) per text."""
    sol = tok.token_to_id(SOLUTION)
    out = []
    for enc in tok.encode_batch(texts):
        ids = [*enc.ids, EOS]
        start = 0
        if loss_on == "completion":
            start = ids.index(sol) + 1 if sol in ids else 0
        out.append((ids, start))
    return out


def pack(docs: list[tuple[list[int], int]], seq_len: int) -> Blocks:
    """Best-fit decreasing: longest documents first, each into the fullest block it still fits."""
    fits = [i for i in range(len(docs)) if len(docs[i][0]) <= seq_len]
    dropped = len(docs) - len(fits)  # longer than a block: dropped whole, never cut mid-trace
    order = sorted(fits, key=lambda i: (-len(docs[i][0]), i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (remaining capacity, bin id)
    for i in order:
        n = len(docs[i][0])
        j = bisect.bisect_left(free, (n, -1))
        if j < len(free):
            cap, b = free.pop(j)
            bins[b].append(i)
            bisect.insort(free, (cap - n, b))
        else:
            bins.append([i])
            bisect.insort(free, (seq_len - n, len(bins) - 1))
    N = len(bins)
    tokens = np.full((N, seq_len), PAD, dtype=np.int32)
    positions = np.zeros((N, seq_len), dtype=np.int32)
    doc_ids = np.full((N, seq_len), -1, dtype=np.int32)
    loss = np.zeros((N, seq_len), dtype=bool)
    for b, members in enumerate(bins):
        at = 0
        for i in members:
            ids, start = docs[i]
            n = len(ids)
            tokens[b, at : at + n] = ids
            positions[b, at : at + n] = np.arange(n)
            doc_ids[b, at : at + n] = i
            # position p predicts token p+1 of the same document; targets from `start` on
            lo = max(start - 1, 0)
            loss[b, at + lo : at + n - 1] = True
            at += n
    return Blocks(tokens, positions, doc_ids, loss, len(fits), dropped)


def batch_tensors(blocks: Blocks, rows: np.ndarray, doc_mask: bool, device) -> dict[str, torch.Tensor]:
    """Inputs, targets, loss mask, positions and (optionally) a block-diagonal causal mask.

    On CUDA the host tensors are pinned and copied asynchronously, and the (T x T) mask is built on
    the device from the document ids instead of being copied; on CPU nothing is pinned or copied."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    host = {
        "idx": torch.from_numpy(blocks.tokens[rows].astype(np.int64)),
        "loss_mask": torch.from_numpy(blocks.loss[rows]),
    }
    if doc_mask:
        host["docs"] = torch.from_numpy(blocks.docs[rows].astype(np.int64))
        host["positions"] = torch.from_numpy(blocks.positions[rows].astype(np.int64))
    if cuda:
        host = {k: v.pin_memory().to(device, non_blocking=True) for k, v in host.items()}
    tok = host["idx"]
    lm = host["loss_mask"].clone()
    lm[:, -1] = False
    out = {"idx": tok, "targets": torch.roll(tok, -1, dims=1), "loss_mask": lm}
    if doc_mask:
        docs = host["docs"]
        T = tok.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=docs.device).tril()
        same = docs.unsqueeze(2) == docs.unsqueeze(1)
        out["positions"] = host["positions"]
        out["mask"] = (same & causal).unsqueeze(1)
    return out
