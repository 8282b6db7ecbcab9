"""DVC stage ``generate@<name>``: build one dataset named in params.yaml -> data/datasets/<name>.parquet."""

import sys
import time

from interplay import data, jobs, params
from interplay.io import write_json
from interplay.runtime import run_stage


def main(name: str) -> None:
    job = jobs.generate(params.load(), name)
    t0 = time.perf_counter()
    examples = data.generate(job.task, job.spec, workers=job.workers, progress=True)
    seconds = time.perf_counter() - t0
    data.write(f"data/datasets/{name}.parquet", examples, job.spec, job.task)
    stats = data.summary(examples)
    stats["seconds"] = round(seconds, 2)
    stats["problems_per_s"] = round(len(examples) / max(seconds, 1e-9), 1)
    write_json(f"reports/datasets/{name}.json", stats)
    print(f"{name}: {stats['problems']} problems, {stats['tokens']} tokens in {seconds:.1f}s")


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"generate@{sys.argv[1]}")
