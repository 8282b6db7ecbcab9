"""Dataset specs, quotas, Parquet determinism, bad params, atomic writes, the generate stage's errors."""

import hashlib
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import stagerun
from interplay import data
from interplay.params import ParamsError
from interplay.task.spec import TaskSpec, task_spec_from_params


def small(**over):
    d = {
        "split": "pre",
        "size": {"problems": 40},
        "ops": {"2-4": 0.2, "5-7": 0.3, "8-10": 0.5},
        "modes": ["forward", "reverse"],
    }
    d.update(over)
    return d


def test_quotas_are_exact_and_weighted():
    spec = data.dataset_spec("x", small(size={"problems": 1000}))
    q = dict(data.quotas(spec))
    assert sum(q.values()) == 1000
    weight = dict(spec.buckets)
    assert all(abs(n - weight[b] * 1000) < 1 for b, n in q.items())  # each bucket within 1
    hard = sum(w for b, w in spec.buckets if b.op >= 8)
    assert hard == pytest.approx(0.5)
    assert {b.mode for b in q} == {"forward", "reverse"} and {b.context for b in q} == {
        "zoo",
        "school",
        "festival",
    }


def test_components_mix_contexts():
    spec = data.dataset_spec(
        "seed",
        {
            "split": "pre",
            "size": {"problems": 1000},
            "components": [
                {"weight": 0.99, "ops": "2-20", "contexts": ["zoo"]},
                {"weight": 0.01, "ops": "2", "contexts": ["school"]},
            ],
        },
    )
    q = data.quotas(spec)
    school = [(b, n) for b, n in q if b.context == "school"]
    assert [(b.op, n) for b, n in school] == [(2, 10)]


@pytest.mark.parametrize(
    "entry, key",
    [
        (small(ops="10-2"), "datasets.x.ops[0]: op range min 10 > max 2"),
        (small(ops={"2-4": 0.5, "5-7": 0.6}), "datasets.x.ops: weights must sum to 1"),
        (small(ops={"2-4": -0.5, "5-7": 1.5}), "datasets.x.ops.2-4: must be >= 0.0"),
        (small(contexts=["zoo", "mars"]), "datasets.x.contexts[1]: unknown 'mars'"),
        (small(size={"problems": 0}), "datasets.x.size.problems: must be >= 1"),
        (small(size={"tokens": -5}), "datasets.x.size.tokens: must be >= 1"),
        (small(split="test"), "datasets.x.split: must be one of"),
        (small(ops="1-3"), "datasets.x.ops[0]: ops must lie in 2..30"),
        (small(modes={"forward": 0.7, "reverse": 0.7}), "datasets.x.modes: weights must sum to 1"),
        (small(colour="red"), "datasets.x.colour: unknown key"),
    ],
)
def test_bad_dataset_params_name_the_key(entry, key):
    with pytest.raises(ParamsError) as err:
        data.dataset_spec("x", entry)
    assert str(err.value).startswith(key)


@pytest.mark.parametrize(
    "task, key",
    [
        ({"modulus": 1}, "task.modulus: must be >= 2"),
        ({"const_range": [4, 1]}, "task.const_range: min 4 > max 1"),
        ({"names": "short"}, "task.names: must be one of"),
        ({"trace": "backward"}, "task.trace: must be one of"),
        ({"question": "middle"}, "task.question: must be one of"),
        ({"splits": {"pre": 0.5, "eval": 0.2}}, "task.splits: weights must sum to 1"),
        ({"modulus": 5, "const_range": [0, 9]}, "task.const_range: constants must be below the modulus"),
    ],
)
def test_bad_task_params_name_the_key(task, key):
    with pytest.raises(ParamsError) as err:
        task_spec_from_params(task)
    assert str(err.value).startswith(key)


def test_parquet_is_byte_identical_and_schema_explicit(tmp_path):
    spec = data.dataset_spec("x", small())
    task = TaskSpec(master_seed=9)
    for name in ("a", "b"):
        data.write(tmp_path / f"{name}.parquet", data.generate(task, spec), spec, task)
    digest = [hashlib.sha256((tmp_path / f"{n}.parquet").read_bytes()).hexdigest() for n in "ab"]
    assert digest[0] == digest[1]
    schema = pq.read_schema(tmp_path / "a.parquet")
    assert schema.remove_metadata() == data.SCHEMA
    df = pl.read_parquet(tmp_path / "a.parquet")
    assert df.height == 40 and df["op"].min() >= 2 and df["op"].max() <= 10
    assert df["uid"].n_unique() == 40 and df["qid"].n_unique() == 40
    assert all(t.startswith("<question> ") and t.endswith(" </answer>") for t in df["text"])
    assert data.read_meta(tmp_path / "a.parquet")["interplay.dataset"].startswith("{")


def test_workers_do_not_change_output():
    spec = data.dataset_spec("x", small(size={"problems": 60}))
    task = TaskSpec(master_seed=4)
    one = [e.uid for e in data.generate(task, spec, workers=1)]
    two = [e.uid for e in data.generate(task, spec, workers=2)]
    assert one == two


def test_token_budget_is_met():
    spec = data.dataset_spec("x", small(size={"tokens": 20_000}))
    exs = data.generate(TaskSpec(), spec)
    got = sum(data.count_tokens(e.text) for e in exs)
    assert 20_000 <= got <= 20_000 + 1_000 * len(data.quotas(spec))


def test_datasets_of_one_split_share_problems_and_splits_are_disjoint():
    task = TaskSpec(master_seed=1)
    a = data.generate(task, data.dataset_spec("a", small(size={"problems": 60})))
    b = data.generate(task, data.dataset_spec("b", small(size={"problems": 120})))
    assert {e.qid for e in a} <= {e.qid for e in b}
    ev = data.generate(task, data.dataset_spec("e", small(split="eval", size={"problems": 120})))
    assert not ({e.qid for e in ev} & {e.qid for e in b})


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    spec = data.dataset_spec("x", small(size={"problems": 5}, ops="2", modes=["forward"]))
    task = TaskSpec()
    exs = data.generate(task, spec)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(data.pq.ParquetWriter, "write_table", boom)
    with pytest.raises(RuntimeError):
        data.write(tmp_path / "x.parquet", exs, spec, task)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):  # the streamed build: neither the file nor its part files stay
        data.build(tmp_path / "x.parquet", task, spec)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writers_leftovers_go_with_the_next_write_of_its_target(tmp_path):
    """A SIGKILL runs no clean-up: the temporary file of an atomic write and a build's part files stay.
    The next write of the same target removes them, and only them (another target's temporaries,
    a name of another shape and the output itself are kept)."""
    from interplay import io

    spec = data.dataset_spec("x", small(size={"problems": 5}, ops="2", modes=["forward"]))
    task = TaskSpec()
    stale_tmp = tmp_path / ".x.parquet.k2j4h5l6.tmp"
    stale_parts = tmp_path / ".x.parts.a1b2c3d4"
    (stale_parts / "sub").mkdir(parents=True)
    (stale_parts / "sub" / "00000.parquet").write_bytes(b"part")
    stale_tmp.write_bytes(b"partial")
    keep = [
        tmp_path / ".x.parquet.json.k2j4h5l6.tmp",  # another target's temporary
        tmp_path / ".y.parquet.k2j4h5l6.tmp",
        tmp_path / ".x.parquet.notrandom.tmp",  # not tempfile's shape
        tmp_path / ".x.parts.keep",
    ]
    for p in keep:
        p.write_bytes(b"other")
    data.build(tmp_path / "x.parquet", task, spec)
    assert not stale_tmp.exists() and not stale_parts.exists()
    assert all(p.read_bytes() == b"other" for p in keep)
    assert pq.ParquetFile(tmp_path / "x.parquet").metadata.num_rows == 5
    stale_json = tmp_path / ".r.json.abcdefgh.tmp"
    stale_json.write_text("{")
    io.write_json(tmp_path / "r.json", {"a": 1})
    assert not stale_json.exists() and (tmp_path / "r.json").read_text() == '{\n  "a": 1\n}\n'
    assert io.remove_leftovers(tmp_path / "missing", ".r.json.", ".tmp") == []


def _run_stage(tmp_path, params, name):
    return stagerun.run(tmp_path, params, "generate", name)


def test_generate_stage_rejects_bad_params_before_work(tmp_path):
    r = _run_stage(tmp_path, {"task": {}, "datasets": {"x": small(ops="9-3")}}, "x")
    assert r.returncode == 2 and "datasets.x.ops[0]: op range min 9 > max 3" in r.stderr
    r = _run_stage(tmp_path, {"task": {"splits": {"pre": 1.0}}, "datasets": {"x": small(split="eval")}}, "x")
    assert r.returncode == 2 and "task.splits.eval" in r.stderr
    r = _run_stage(tmp_path, {"task": {}, "datasets": {"x": small()}}, "y")
    assert r.returncode == 2 and "datasets.y: not declared" in r.stderr
    assert not (tmp_path / "data").exists()


def test_generate_stage_writes_dataset(tmp_path):
    r = _run_stage(
        tmp_path,
        {"task": {}, "datasets": {"x": small(size={"problems": 12}, ops="2-3", modes=["forward"])}},
        "x",
    )
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(tmp_path / "data/datasets/x.parquet").height == 12
    assert (tmp_path / "reports/datasets/x.json").exists()


def test_streamed_build_is_the_same_bytes_at_any_worker_count_and_chunk_size(tmp_path, monkeypatch):
    """data.build streams buckets through part files into fixed-size row groups: the file equals the
    in-memory write byte for byte, with 1 or 2 workers and any render chunk, across several row
    groups (a dataset larger than one row group), and its summary equals data.summary's."""
    import pyarrow.parquet as pq

    task = TaskSpec(modulus=23, const_range=(0, 22))
    spec = data.dataset_spec("x", small(size={"problems": 90}, ops={"2": 0.5, "4": 0.5}))
    monkeypatch.setattr(data, "ROW_GROUP", 37)
    ref = tmp_path / "ref.parquet"
    data.write(ref, data.generate(task, spec), spec, task)
    assert pq.ParquetFile(ref).metadata.num_row_groups == 3  # 37 + 37 + 16 rows
    for workers, chunk, merge in ((1, 5, 3), (2, 11, 50), (2, 4096, 512)):
        monkeypatch.setattr(data, "CHUNK_ROWS", chunk)
        monkeypatch.setattr(data, "MERGE_ROWS", merge)
        out = tmp_path / f"b{workers}-{chunk}-{merge}.parquet"
        stats = data.build(out, task, spec, workers=workers)
        assert out.read_bytes() == ref.read_bytes(), (workers, chunk, merge)
        assert stats == data.summary(data.generate(task, spec))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # part files removed
    assert data.read_meta(ref)["interplay.dataset"]


def test_a_row_group_is_made_contiguous_one_column_at_a_time(tmp_path):
    """The writer copies a group's pieces into contiguous arrays column by column, dropping each
    column's pieces as it goes: Arrow's peak while flushing 76 MiB of pieces (4 columns x 10 tables)
    stays under the pieces plus one column and a margin (101 MiB measured; combining the whole table
    at once holds the pieces and their full copy: 153 MiB). A fresh process: the pool's peak is its
    own."""
    import subprocess
    import sys

    code = f"""
import interplay, pyarrow as pa
from interplay.data import RowGroupWriter
pool = pa.default_memory_pool()
schema = pa.schema([(c, pa.string()) for c in "abcd"])
w = RowGroupWriter({str(tmp_path / "g.parquet")!r}, schema, row_group=20_001)
for i in range(10):  # 10 tables of 2,000 rows, 1.9 MiB per column: the group is 76 MiB
    w.add(pa.table({{c: pa.array([c * 1000] * 2000) for c in "abcd"}}, schema=schema))
print(pool.max_memory() >> 20)
w.close()
print(pool.max_memory() >> 20)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, during = map(int, out.stdout.split())
    assert before >= 70, before  # the pieces (76 MiB) all alive, the group not yet flushed
    assert during <= before + 19 + 11, (before, during)  # + one 19 MiB column, + 11 MiB of margin


def test_the_package_picks_the_lean_arrow_pool_unless_told_otherwise():
    import os
    import subprocess
    import sys

    code = "import interplay, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    probe = subprocess.run(
        [sys.executable, "-c", "import pyarrow as pa; print(pa.jemalloc_memory_pool())"],
        env=env,
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip("this pyarrow has no jemalloc")
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "jemalloc"
    env["ARROW_DEFAULT_MEMORY_POOL"] = "system"  # the user's choice stands
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "system"


# Allocate 200 MB of Arrow buffers of 100 KB, free them, and report how much of it the process still
# holds right away (RSS after the free over RSS at the peak, both above the start).
_RETAINED = """
import interplay, numpy as np, pyarrow as pa, pyarrow.compute as pc
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
a = pa.array(np.ones(12_500))
before = rss()
bs = [pc.add(a, 1.0) for _ in range(2_000)]
peak = rss()
del bs
print(pa.default_memory_pool().backend_name, (rss() - before) / (peak - before))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_the_package_has_freed_arrow_memory_handed_back_at_once_unless_told_otherwise():
    import os
    import subprocess
    import sys

    ours = ("ARROW_DEFAULT_MEMORY_POOL", "JE_ARROW_MALLOC_CONF")
    env = {k: v for k, v in os.environ.items() if k not in ours}

    def retained(env):
        cmd = [sys.executable, "-c", _RETAINED]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        pool, frac = out.stdout.split()
        if pool != "jemalloc":
            pytest.skip("this pyarrow has no jemalloc")
        return float(frac)

    assert retained(env) < 0.1
    env["JE_ARROW_MALLOC_CONF"] = "dirty_decay_ms:60000,muzzy_decay_ms:60000"  # the user's choice stands
    assert retained(env) > 0.25
