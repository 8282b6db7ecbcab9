"""DVC stage ``generate@<name>``: build one dataset named in params.yaml -> data/datasets/<name>.parquet
(streamed: rendered and written in bounded memory, ``interplay.data.build``)."""

import sys
import time

from interplay import data, jobs, params
from interplay.io import write_json
from interplay.runtime import run_stage


def main(name: str) -> None:
    job = jobs.generate(params.load(), name)
    t0 = time.perf_counter()
    stats = data.build(f"data/datasets/{name}.parquet", job.task, job.spec, job.workers, progress=True)
    seconds = time.perf_counter() - t0
    stats["seconds"] = round(seconds, 2)
    stats["problems_per_s"] = round(stats["problems"] / max(seconds, 1e-9), 1)
    write_json(f"reports/datasets/{name}.json", stats)
    print(f"{name}: {stats['problems']} problems, {stats['tokens']} tokens in {seconds:.1f}s")


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"generate@{sys.argv[1]}")
