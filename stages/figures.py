"""DVC stages ``figures_<finding>``: one finding's figures and tables -> reports/findings/<finding>.json.

python stages/figures.py edge | context | midrl | process | ladder
"""

import json
import sys
from dataclasses import asdict
from pathlib import Path

from interplay import evaluate as E
from interplay import findings as F
from interplay import params
from interplay.io import write_json
from interplay.runtime import run_stage

FIG_DIR = Path("reports/figures")


def check_declared(key: str, reads: list[str], dvc_yaml: Path = Path("dvc.yaml")) -> None:
    """Every file this finding reads must be a dep of its stage, or DVC would not rerun it."""
    import yaml

    stage = f"figures_{key}"
    stages = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages") or {}
    params.need(stage in stages, f"findings.{key}", f"{dvc_yaml} has no stage '{stage}'")
    deps = set(stages[stage].get("deps") or [])
    missing = [r for r in reads if r not in deps]
    params.need(
        not missing,
        f"findings.{key}",
        f"reads {', '.join(missing)}, not declared as deps of {dvc_yaml}:{stage}; add them there",
    )


def check_evaluations(where: str, named: dict[str, str], evals: set[str]) -> None:
    """Every label of ``named`` must name a declared evaluate run."""
    for label, name in named.items():
        params.need(name in evals, where, f"'{label}' names '{name}', which is not an evaluate run")


def main(key: str) -> None:
    p = params.load()
    cfg = params.section(p, f"findings.{key}")
    ranges = E.parse_ranges(params.section(p, "evaluate.ranges"))
    evals = set((p.get("evaluate") or {}).get("runs") or {})
    named = {**cfg.get("rl", {}), **cfg.get("runs", {}), **({"base": cfg["base"]} if "base" in cfg else {})}
    check_evaluations(f"findings.{key}", named, evals)
    reads = [f"reports/eval/{n}.parquet" for n in named.values()]
    if key == "edge" and cfg.get("edge_set"):
        edge_set = cfg["edge_set"]
        want = {"base", *cfg["rl"]}
        params.need(
            isinstance(edge_set, dict) and set(edge_set) == want,
            f"findings.{key}.edge_set",
            f"expected one evaluation for each of {', '.join(sorted(want))}",
        )
        check_evaluations(f"findings.{key}.edge_set", edge_set, evals)
        reads += [f"reports/eval/{n}.parquet" for n in edge_set.values()]
    if key == "edge":
        reads += [f"reports/train/{n}/plots/metrics" for n in cfg["rl"].values()]
    if key == "ladder":
        reads = [f"reports/ladder/{cfg['run']}.parquet"]
    check_declared(key, reads)
    fig_dir = FIG_DIR / key
    fig_dir.mkdir(parents=True, exist_ok=True)
    if key == "edge":
        f = F.edge_of_competence(cfg, ranges, fig_dir)
    elif key == "context":
        f = F.context_seed(cfg, sorted(E.parse_ranges({"b": cfg["ops"]})["b"]), fig_dir)
    elif key == "midrl":
        f = F.mid_vs_rl(cfg, ranges, fig_dir)
    elif key == "process":
        cfg = {**cfg, "op_groups": [sorted(E.parse_ranges({"g": g})["g"]) for g in cfg["op_groups"]]}
        f = F.process_rewards(cfg, ranges, fig_dir)
    elif key == "ladder":
        f = F.ladder_figure(cfg["run"], ranges, fig_dir)
    else:
        raise params.ParamsError(f"findings.{key}: unknown finding (edge, context, midrl, process, ladder)")
    write_json(f"reports/findings/{key}.json", json.loads(json.dumps(asdict(f), default=float)))
    print(f"{f.title}: {f.verdict}. {f.summary}")


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"figures_{sys.argv[1]}")
