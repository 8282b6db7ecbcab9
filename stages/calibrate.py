"""DVC stage ``calibrate``: the edge-of-competence op range of a model, from its evaluation.

Writes reports/calibrate.json ({"ops": "a-b", ...}); RL runs under `rl.calibrated` train on it.
"""

from pathlib import Path

from interplay import calibrate, inputs, params
from interplay.io import write_json
from interplay.runtime import run_stage


def main() -> None:
    p = params.load()
    cfg = params.section(p, "calibrate")
    params.check_keys(cfg, "calibrate", {"evaluation", "max_pass1", "min_passn"}, {"evaluation"})
    name = cfg["evaluation"]
    params.need(
        name in (p.get("evaluate", {}).get("runs") or {}),
        "calibrate.evaluation",
        f"'{name}' is not an evaluate run",
    )
    path = Path(f"reports/eval/{name}.parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path}: evaluation '{name}' not run (calibrate.evaluation)")
    table = inputs.parquet(path, f"evaluation '{name}'")
    lo = params.as_float(cfg.get("min_passn", 0.05), "calibrate.min_passn", 0.0, 1.0)
    hi = params.as_float(cfg.get("max_pass1", 0.5), "calibrate.max_pass1", 0.0, 1.0)
    try:
        out = calibrate.edge_range(table, hi, lo)
    except ValueError as err:
        raise params.ParamsError(f"calibrate: {err}") from None
    out["evaluation"] = name
    write_json("reports/calibrate.json", out)
    print(f"calibrate: edge of competence = op {out['ops']}")


if __name__ == "__main__":
    run_stage(main, stage="calibrate")
