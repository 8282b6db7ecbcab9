"""Run declarations shared by the training, RL and evaluation stages (names, phases, paths)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interplay.params import ParamsError, need

PHASES = ("pretrain", "midtrain", "rl")
MODELS_DIR = Path("data/models")
RESUME_DIR = Path("data/resume")  # not a DVC output: a killed run's state survives to be resumed


def seed_names(*entries: str | list[str] | tuple[str, ...]) -> list[str]:
    """The evaluations a finding names for its runs, in order: each entry is one evaluation's name
    or the list of a run's training seeds' evaluations."""
    return [n for e in entries for n in ([e] if isinstance(e, str) else e)]


def model_dir(run: str) -> Path:
    return MODELS_DIR / run


def resume_dir(run: str) -> Path:
    """Where a training or RL run keeps the state it resumes from after a kill."""
    return RESUME_DIR / run


def all_runs(params: Mapping[str, Any]) -> dict[str, str]:
    """run name -> phase, over every phase; a name used twice is an error."""
    out: dict[str, str] = {}
    for phase in PHASES:
        section = params.get(phase) or {}
        need(isinstance(section, Mapping), phase, "expected a mapping of run names")
        groups = (
            [(f"{phase}.{g}", section.get(g) or {}) for g in ("runs", "calibrated")]
            if phase == "rl"
            else [(phase, section)]
        )
        for where, group in groups:
            for name in group:
                if name in out:
                    raise ParamsError(f"{where}.{name}: run name also used in {out[name]}")
                out[name] = where
    return out


def declared_init(params: Mapping[str, Any], init: str | None, key: str) -> None:
    """An ``init`` must name a declared run (params alone)."""
    if init is not None:
        runs = all_runs(params)
        need(init in runs, key, f"unknown run '{init}' (declared: {', '.join(sorted(runs)) or 'none'})")


def check_init(params: Mapping[str, Any], init: str | None, key: str) -> Path | None:
    """An ``init`` must name a declared run whose checkpoint exists."""
    declared_init(params, init, key)
    if init is None:
        return None
    path = model_dir(init)
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"{path}: checkpoint of '{init}' not found ({key}); run its stage first")
    return path


def declared_training_dataset(params: Mapping[str, Any], name: str, key: str) -> None:
    """A training run's dataset must be declared and not an evaluation set (params alone); an RL pool
    written by the prompt filter (``filter.runs.<name>``) counts as declared."""
    filtered = ((params.get("filter") or {}).get("runs")) or {}
    if name in filtered:
        return
    datasets = params.get("datasets") or {}
    need(name in datasets, key, f"dataset '{name}' is not declared under datasets")
    need(
        datasets[name].get("split") != "eval",
        key,
        f"dataset '{name}' is an evaluation set (split eval): it must not be trained on",
    )


def check_training_dataset(params: Mapping[str, Any], name: str, key: str) -> Path:
    """A training run's dataset, declared and built."""
    declared_training_dataset(params, name, key)
    path = Path(f"data/datasets/{name}.parquet")
    if not path.exists():
        stage = "filter" if name in (((params.get("filter") or {}).get("runs")) or {}) else "generate"
        raise FileNotFoundError(f"{path}: dataset '{name}' not built ({key}); run {stage}@{name}")
    return path
