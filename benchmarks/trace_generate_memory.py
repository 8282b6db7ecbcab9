"""Resident memory of one dataset generation, phase by phase (bucket generation vs the merge's flushes).

Samples the process's RSS every 0.1 s while ``data.build`` generates the default pre-training mixture
at the given size, tags each sample with the phase it fell in (the row-group writer's flushes of the
parts, 2,048 rows, and of the dataset, 8,192 rows) and prints the largest sample per phase and the
process's max RSS. torch is imported first, as in ``bench_data_memory.py``, so the baselines agree.

    python benchmarks/trace_generate_memory.py 1e7 /tmp/trace.parquet
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from pathlib import Path

import torch  # noqa: F401  (the benchmark's baseline)
import yaml

from interplay import data
from interplay.task.spec import task_spec_from_params

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokens", type=float, help="dataset size in tokens")
    ap.add_argument("out", type=Path, help="where the dataset is written")
    a = ap.parse_args()
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    task = task_spec_from_params(p["task"])
    spec = data.dataset_spec("pretrain", {**p["datasets"]["pretrain"], "size": {"tokens": int(a.tokens)}})

    phase, peaks, done = ["generate"], {}, threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks[phase[0]] = max(peaks.get(phase[0], 0), rss_mb())
            time.sleep(0.1)

    flush = data.RowGroupWriter._flush

    def tagged(self, rows: int) -> None:
        phase[0] = f"flush of {self.row_group}-row groups"
        flush(self, rows)
        phase[0] = "generate" if self.row_group == data.CHUNK_ROWS else "merge, between flushes"

    data.RowGroupWriter._flush = tagged
    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    stats = data.build(a.out, task, spec, workers=1)
    done.set()
    print(f"{stats['problems']:,} problems in {time.perf_counter() - t0:.0f} s")
    for name, mb in peaks.items():
        print(f"  {name:<28} peak sampled RSS {mb} MB")
    print(f"  max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
