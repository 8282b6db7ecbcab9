"""DVC stage ``evaluate@<name>``: sample a model on an evaluation set, verify, write pass@k.

Outputs: reports/eval/<name>.parquet (one row per problem), reports/metrics/<name>.json (the headline
strict pass@1 / pass@n per range, for `dvc exp show`), reports/plots/{passk,passk_op,passk_answer}/
<name>.json (pass@k tables for `dvc plots`: per range, per op, answer-only).
"""

import sys
from pathlib import Path

from interplay import dist as D
from interplay import evaluate as E
from interplay import inputs, jobs, params, runs
from interplay.io import atomic_path, write_json
from interplay.runtime import run_stage, set_threads


def main(name: str) -> None:
    job = jobs.evaluate(params.load(), name)
    cfg = job.cfg
    data_path = Path(f"data/datasets/{job.dataset}.parquet")
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path}: evaluation set missing (evaluate.runs.{name}.dataset)")
    model_path = runs.model_dir(job.model)
    set_threads(cfg.threads)
    device = E.tensor_device(cfg.device)
    dd = D.setup(device.type)
    device = D.device_for(dd, device)
    inputs.checkpoint(model_path)  # every input checked before the model is loaded
    tok = inputs.tokenizer(model_path / "tokenizer.json")
    problems = E.select_problems(inputs.parquet(data_path, "evaluation set"), cfg.problems_per_op, cfg.ops)
    model = inputs.model(model_path, device).eval()
    print(
        f"evaluate@{name}: {job.model} on {job.dataset}: {problems.height} problems x "
        f"{cfg.samples} samples (T={cfg.temperature})"
    )
    df = E.run_sharded(model, tok, problems, cfg, device, dd)
    if not dd.main:
        return D.cleanup(dd)
    out = Path(f"reports/eval/{name}.parquet")
    with atomic_path(out) as tmp:
        df.write_parquet(tmp)
    m = E.metrics(df, job.ranges)
    m["model"] = job.model
    m["dataset"] = job.dataset
    m["eval_seconds"] = round(float(df["eval_seconds"][0]), 1)
    m["gen_tokens_per_s"] = round(float(df["gen_tokens"][0]) / max(float(df["eval_seconds"][0]), 1e-9), 1)
    write_json(f"reports/metrics/{name}.json", m)
    for table, rows in E.curves(df, job.ranges).items():
        write_json(f"reports/plots/{table}/{name}.json", rows)
    print({k: m[k] for k in ("strict", "eval_seconds", "gen_tokens_per_s")})
    D.cleanup(dd)


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"evaluate@{sys.argv[1]}")
