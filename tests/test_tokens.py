"""Token streams: built once into a memory-mapped file; training batches read from it equal the
in-memory packing's; bytes independent of batching; resume from the middle of a stream."""

import itertools
import json

import numpy as np
import polars as pl
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tiny
from interplay import inputs, packing, tokens
from interplay import model as M
from interplay import tokenizer as T
from interplay.checkpoint import RunPaths
from interplay.task.generate import stream
from interplay.task.spec import TaskSpec
from interplay.train import batch_rows, train

TEXTS = [
    e.text for op in (2, 3, 5) for e in itertools.islice(stream(TaskSpec(), "pre", "zoo", "forward", op), 15)
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("tokens")
    pl.DataFrame({"text": TEXTS}).write_parquet(d / "ds.parquet", row_group_size=7)
    tok = T.train(TEXTS)
    T.save(tok, d / "tok.json")
    tok = T.load(d / "tok.json")
    meta = tokens.build(d / "ds.parquet", tok, d / "stream", batch_rows=4)
    return d, tok, meta


def test_the_stream_holds_every_document_and_its_completion_start(built):
    d, tok, meta = built
    s = inputs.token_stream(d / "stream", d / "tok.json")
    assert meta["dtype"] == "uint16" and s.ids.dtype == np.uint16 and len(s) == len(TEXTS)
    for i, (ids, start) in enumerate(packing.encode(tok, TEXTS, "completion")):
        got, got_start = s.doc(i)
        assert got.tolist() == ids and got_start == start
    assert meta["n_tokens"] == s.ids.shape[0] == sum(len(e.ids) + 1 for e in tok.encode_batch(TEXTS))


def test_the_files_do_not_depend_on_batching(built, tmp_path, monkeypatch):
    d, tok, _ = built
    tokens.build(d / "ds.parquet", tok, tmp_path / "one", batch_rows=1)
    tokens.build(d / "ds.parquet", tok, tmp_path / "all", batch_rows=4096)
    monkeypatch.setattr(tokens, "DOC_CHUNK", 2)  # docs.npy assembled two rows at a time
    tokens.build(d / "ds.parquet", tok, tmp_path / "chunked", batch_rows=3)
    # the 7 row groups in 2 or 3 shares (3, 2, 2 groups), each tokenised by its own process
    assert tokens.shares(d / "ds.parquet", 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert len(tokens.shares(d / "ds.parquet", 99)) == 7 and tokens.shares(d / "ds.parquet", 1) == [
        list(range(7))
    ]
    tokens.build(d / "ds.parquet", tok, tmp_path / "two", batch_rows=4, workers=2)
    tokens.build(d / "ds.parquet", tok, tmp_path / "three", batch_rows=5, workers=3)
    for f in ("ids.bin", "docs.npy", "meta.json"):
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "all" / f).read_bytes()
        assert (tmp_path / "one" / f).read_bytes() == (d / "stream" / f).read_bytes()
        assert (tmp_path / "chunked" / f).read_bytes() == (tmp_path / "all" / f).read_bytes()
        assert (tmp_path / "two" / f).read_bytes() == (tmp_path / "all" / f).read_bytes()
        assert (tmp_path / "three" / f).read_bytes() == (tmp_path / "all" / f).read_bytes()
    # docs.npy is what np.save writes for the same rows
    docs = np.load(tmp_path / "chunked" / "docs.npy")
    np.save(tmp_path / "saved.npy", docs)
    assert (tmp_path / "saved.npy").read_bytes() == (tmp_path / "chunked" / "docs.npy").read_bytes()
    assert not list(tmp_path.glob(".*"))  # no temporary folder left
    for name in ("chunked", "three"):  # no side file left
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["docs.npy", "ids.bin", "meta.json"]


@pytest.mark.parametrize("loss_on", ["completion", "all"])
def test_batches_from_the_stream_equal_the_in_memory_ones(built, loss_on):
    d, tok, _ = built
    mem = packing.pack(packing.encode(tok, TEXTS, loss_on), 256)
    streamed = packing.StreamBlocks.pack(inputs.token_stream(d / "stream", d / "tok.json"), 256, loss_on)
    assert len(streamed) == len(mem) and streamed.n_dropped == mem.n_dropped > 0
    assert streamed.fill == mem.fill and streamed.n_docs == mem.n_docs
    for step in range(3):
        rows = batch_rows(len(mem), 4, 0, step)
        a = packing.batch_tensors(mem, rows, True, "cpu")
        b = packing.batch_tensors(streamed, rows, True, "cpu")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_on_a_stream_resumes_bit_identically(built, tmp_path):
    d, tok, _ = built
    blocks = packing.StreamBlocks.pack(inputs.token_stream(d / "stream", d / "tok.json"), 128, "completion")
    cfg = tiny.train_config(8, 128, checkpoint_every=3, log_every=2)
    mc = tiny.config(tok.get_vocab_size(), 128)

    def run(name, stop_after=None):
        paths = RunPaths(
            tmp_path / name / "out", tmp_path / name / "resume", tmp_path / name / "live", d / "tok.json"
        )
        return train(cfg, mc, blocks, paths, stop_after=stop_after, progress=False), paths

    _, full = run("full")
    killed, kp = run("killed", stop_after=5)
    assert killed.steps == 5
    resumed, kp = run("killed")
    assert resumed.resumed_from == 5
    a, b = M.load(full.out).state_dict(), M.load(kp.out).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((kp.live / "metrics.json").read_text())["steps"] == 8


def test_plan_is_best_fit_decreasing():
    p = packing.plan(np.array([5, 3, 7, 2, 9, 4]), 10)
    blocks = [p.members[p.ptr[b] : p.ptr[b + 1]].tolist() for b in range(len(p.ptr) - 1)]
    # longest first: 9, 7 and 5 each open a block (rooms 1, 3, 5); 4 goes to the block with room 5,
    # 3 to the one with room 3; 2 fits no room left (1, 0, 1) and opens a fourth block
    assert blocks == [[4], [2, 1], [0, 5], [3]]
    assert p.dropped == 0 and packing.plan(np.array([11, 3]), 10).dropped == 1


def _reference_plan(lengths, seq_len):
    """Best-fit decreasing written plainly: a list per block, every block scanned for each document."""
    order = sorted((i for i, n in enumerate(lengths) if n <= seq_len), key=lambda i: (-lengths[i], i))
    bins, room = [], []
    for i in order:
        fit = [b for b in range(len(bins)) if room[b] >= lengths[i]]
        if fit:
            b = min(fit, key=lambda b: (room[b], b))
            bins[b].append(i)
            room[b] -= lengths[i]
        else:
            bins.append([i])
            room.append(seq_len - lengths[i])
    return bins


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 14), max_size=60), st.integers(4, 12), st.integers(1, 7))
def test_plan_equals_the_plain_best_fit(lengths, seq_len, chunk):
    """The same blocks, members in the same order, whatever chunk the planner reads documents in."""
    import interplay.packing as P

    old, P.PLAN_CHUNK = P.PLAN_CHUNK, chunk
    try:
        p = packing.plan(np.array(lengths, dtype=np.int64), seq_len)
    finally:
        P.PLAN_CHUNK = old
    blocks = [p.members[p.ptr[b] : p.ptr[b + 1]].tolist() for b in range(len(p.ptr) - 1)]
    assert blocks == _reference_plan(lengths, seq_len)
    assert p.dropped == sum(n > seq_len for n in lengths)
