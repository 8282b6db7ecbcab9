"""Tokenize serialized examples and pack them into fixed-length training blocks.

Each document is ``text + EOS``. Documents longer than ``seq_len`` are dropped (counted), never
cut; the rest are packed best-fit-decreasing into blocks of ``seq_len`` tokens (paper: FFD
packing, the rest padded). Every block carries per-token positions
(restarting at 0 for each document), document ids (for a block-diagonal attention mask) and a loss
mask (all tokens, or only the completion after ``<solution>``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from interplay.tokenizer import EOS, PAD
from interplay.tokens import SOLUTION, Stream

PLAN_CHUNK = 1 << 16  # documents turned into Python ints at a time while planning


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

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Blocks ``rows``: tokens, positions, document ids, loss mask."""
        return self.tokens[rows], self.positions[rows], self.docs[rows], self.loss[rows]


@dataclass
class Plan:
    """Which documents each block holds, in order: block b is ``members[ptr[b]:ptr[b + 1]]``."""

    ptr: np.ndarray  # (N + 1,) int64
    members: np.ndarray  # document indices, int64
    dropped: int  # documents longer than a block


def plan(lengths: np.ndarray, seq_len: int) -> Plan:
    """Best-fit decreasing over document lengths: longest first (ties: lower index), each into the
    block with the least room that still fits it (ties: the older block), else a new block. Per
    free capacity a heap of block ids, so a document costs one vectorised scan of the capacities.
    Memory: a block id per document in an array and one heap entry per block (no Python list per
    block), so planning 700k documents stays within tens of MB."""
    lengths = np.asarray(lengths, dtype=np.int64)
    fits = np.flatnonzero(lengths <= seq_len)
    order = fits[np.lexsort((fits, -lengths[fits]))]
    heaps: list[list[int]] = [[] for _ in range(seq_len + 1)]  # free capacity -> block ids
    count = np.zeros(seq_len + 1, dtype=np.int64)
    block_of = np.empty(order.size, dtype=np.int64)  # the block of the k-th document placed
    n_blocks = 0
    for start in range(0, order.size, PLAN_CHUNK):
        for k, n in enumerate(lengths[order[start : start + PLAN_CHUNK]].tolist(), start):
            avail = np.flatnonzero(count[n:])
            if avail.size:
                cap = n + int(avail[0])
                b = heapq.heappop(heaps[cap])
                count[cap] -= 1
            else:
                cap, b = seq_len, n_blocks
                n_blocks += 1
            block_of[k] = b
            heapq.heappush(heaps[cap - n], b)
            count[cap - n] += 1
    # a block's members in the order they were placed: the placements, stably sorted by block
    members = order[np.argsort(block_of, kind="stable")]
    ptr = np.zeros(n_blocks + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(block_of, minlength=n_blocks))
    return Plan(ptr, members, int(lengths.size - fits.size))


def fill_rows(
    p: Plan, rows: np.ndarray, doc: Callable[[int], tuple[Sequence[int], int]], seq_len: int, loss_on: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blocks ``rows`` of plan ``p`` as dense arrays (tokens, positions, document ids, loss mask);
    ``doc(i)`` gives document i's ids and completion start."""
    R = len(rows)
    tokens = np.full((R, seq_len), PAD, dtype=np.int32)
    positions = np.zeros((R, seq_len), dtype=np.int32)
    doc_ids = np.full((R, seq_len), -1, dtype=np.int32)
    loss = np.zeros((R, seq_len), dtype=bool)
    for r, b in enumerate(np.asarray(rows).tolist()):
        at = 0
        for i in p.members[p.ptr[b] : p.ptr[b + 1]].tolist():
            ids, start = doc(i)
            n = len(ids)
            tokens[r, at : at + n] = ids
            positions[r, at : at + n] = np.arange(n)
            doc_ids[r, at : at + n] = i
            # position p predicts token p+1 of the same document; targets from `start` on
            lo = max((start if loss_on == "completion" else 0) - 1, 0)
            loss[r, at + lo : at + n - 1] = True
            at += n
    return tokens, positions, doc_ids, loss


@dataclass
class StreamBlocks:
    """Packed blocks over a token stream (``interplay.tokens``): a block's arrays are assembled from
    the memory-mapped file when a batch asks for it, so memory holds the plan, not the tokens."""

    stream: Stream
    plan: Plan
    seq_len: int
    loss_on: str

    @classmethod
    def pack(cls, stream: Stream, seq_len: int, loss_on: str) -> StreamBlocks:
        return cls(stream, plan(stream.docs[:, 1], seq_len), seq_len, loss_on)

    def __len__(self) -> int:
        return len(self.plan.ptr) - 1

    @property
    def n_docs(self) -> int:
        return len(self.plan.members)

    @property
    def n_dropped(self) -> int:
        return self.plan.dropped

    @property
    def real_tokens(self) -> int:
        return int(self.stream.docs[self.plan.members, 1].sum())

    @property
    def fill(self) -> float:
        return self.real_tokens / max(1, len(self) * self.seq_len)

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return fill_rows(self.plan, rows, self.stream.doc, self.seq_len, self.loss_on)


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
    """Every block of ``plan`` over in-memory documents (ids, completion start), as dense arrays."""
    p = plan(np.array([len(ids) for ids, _ in docs], dtype=np.int64), seq_len)
    rows = np.arange(len(p.ptr) - 1)
    tokens, positions, doc_ids, loss = fill_rows(p, rows, docs.__getitem__, seq_len, "completion")
    return Blocks(tokens, positions, doc_ids, loss, len(p.members), p.dropped)


def batch_tensors(
    blocks: Blocks | StreamBlocks, rows: np.ndarray, doc_mask: bool, device
) -> dict[str, torch.Tensor]:
    """Inputs, targets, loss mask, positions and (optionally) a block-diagonal causal mask.

    On CUDA the host tensors are pinned and copied asynchronously, and the (T x T) mask is built on
    the device from the document ids instead of being copied; on CPU nothing is pinned or copied."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    tokens, positions, docs, loss = blocks.take(rows)
    host = {"idx": torch.from_numpy(tokens.astype(np.int64)), "loss_mask": torch.from_numpy(loss)}
    if doc_mask:
        host["docs"] = torch.from_numpy(docs.astype(np.int64))
        host["positions"] = torch.from_numpy(positions.astype(np.int64))
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
