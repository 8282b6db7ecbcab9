"""DVC stage ``generate@<name>``: build one dataset named in params.yaml -> data/datasets/<name>.parquet."""

import sys
import time

from interplay import data, params
from interplay.io import write_json
from interplay.runtime import run_stage
from interplay.task.spec import task_spec_from_params


def main(name: str) -> None:
    p = params.load()
    task = task_spec_from_params(p.get("task") or {})
    entries = params.section(p, "datasets")
    params.need(name in entries, f"datasets.{name}", f"not declared (known: {', '.join(entries)})")
    spec = data.dataset_spec(name, entries[name])
    params.need(
        task.splits[spec.split] > 0,
        f"task.splits.{spec.split}",
        f"share is 0 but datasets.{name} needs split '{spec.split}'",
    )
    gen = p.get("generate") or {}
    params.check_keys(gen, "generate", {"workers"})
    workers = params.as_int(gen.get("workers", 1), "generate.workers", lo=1)
    t0 = time.perf_counter()
    examples = data.generate(task, spec, workers=workers, progress=True)
    seconds = time.perf_counter() - t0
    data.write(f"data/datasets/{name}.parquet", examples, spec, task)
    stats = data.summary(examples)
    stats["seconds"] = round(seconds, 2)
    stats["problems_per_s"] = round(len(examples) / max(seconds, 1e-9), 1)
    write_json(f"reports/datasets/{name}.json", stats)
    print(f"{name}: {stats['problems']} problems, {stats['tokens']} tokens in {seconds:.1f}s")


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"generate@{sys.argv[1]}")
