"""DVC stage ``calibrate``: the edge-of-competence op range of a model, from its evaluation.

Writes reports/calibrate.json ({"ops": "a-b", ...}); RL runs under `rl.calibrated` train on it.
"""

from pathlib import Path

from interplay import calibrate, inputs, jobs, params
from interplay.io import write_json
from interplay.runtime import run_stage


def main() -> None:
    job = jobs.calibrate(params.load())
    path = Path(f"reports/eval/{job.evaluation}.parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path}: evaluation '{job.evaluation}' not run (calibrate.evaluation)")
    table = inputs.parquet(path, f"evaluation '{job.evaluation}'")
    try:
        out = calibrate.edge_range(table, job.max_pass1, job.min_passn)
    except ValueError as err:
        raise params.ParamsError(f"calibrate: {err}") from None
    out["evaluation"] = job.evaluation
    write_json("reports/calibrate.json", out)
    print(f"calibrate: edge of competence = op {out['ops']}")


if __name__ == "__main__":
    run_stage(main, stage="calibrate")
