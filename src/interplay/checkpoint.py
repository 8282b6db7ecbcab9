"""Run directories and resume state, shared by the trainer and RL.

A run writes its final checkpoint to ``out`` (a DVC output), its resume state to ``resume`` (not a
DVC output, so it survives a kill) and its dvclive logs to ``live``. The resume state is the model,
the optimizer (both safetensors) and the step with any run-specific metadata (json), written to a
temporary directory and renamed into place; it belongs to one fingerprint of the run's settings and
inputs and is ignored (and deleted) under any other.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interplay import model as M


@dataclass
class RunPaths:
    """Where one run writes."""

    out: Path  # data/models/<run>
    resume: Path  # data/resume/<run> (not a DVC output: survives a kill)
    live: Path  # reports/train/<run> (dvclive)
    tokenizer: Path


def _param_names(model: M.Qwen2, opt: torch.optim.Optimizer) -> list[str]:
    """The name of each parameter in the optimizer's order (its state is indexed that way: the
    decayed matrices first, then norms and biases)."""
    by_id = {id(p): name for name, p in model.named_parameters()}
    return [by_id[id(p)] for group in opt.param_groups for p in group["params"]]


def save_state(path: Path, model: M.Qwen2, opt: torch.optim.Optimizer, step: int, meta: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(M.state_for_save(model), str(tmp / "model.safetensors"))
    names = _param_names(model, opt)
    osd = opt.state_dict()["state"]
    tensors = {}
    for i, name in enumerate(names):
        for k, v in osd.get(i, {}).items():
            tensors[f"{name}::{k}"] = v.detach().cpu().contiguous().reshape(v.shape)
    save_file(tensors, str(tmp / "optim.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, **meta}, indent=2, sort_keys=True))
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def load_state(path: Path, model: M.Qwen2, opt: torch.optim.Optimizer) -> dict:
    """Restore a resume state. Every file is read and checked before the model or the optimizer is
    touched, so a damaged state raises and leaves both as they were."""
    meta = json.loads((path / "state.json").read_text())
    weights = load_file(str(path / "model.safetensors"))
    tensors = load_file(str(path / "optim.safetensors"))
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
        raise ValueError(f"{path / 'state.json'}: no step")
    names = _param_names(model, opt)
    params = dict(model.named_parameters())
    for k, v in tensors.items():
        name = k.split("::", 1)[0]
        if name not in params or (v.dim() > 0 and v.shape != params[name].shape):
            raise ValueError(f"{path / 'optim.safetensors'}: '{k}' does not match the model")
    M.apply_weights(model, weights, path / "model.safetensors")
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for i, name in enumerate(names):
        entry = {k.split("::", 1)[1]: v for k, v in tensors.items() if k.split("::", 1)[0] == name}
        if entry:
            state[i] = entry
    sd["state"] = state
    opt.load_state_dict(sd)
    return meta


def resume(
    state_dir: Path, fp: str, model: M.Qwen2, opt: torch.optim.Optimizer, main: bool, log=print
) -> dict | None:
    """The resume state's metadata after restoring it, or None to start from scratch: when there is
    none, when it belongs to other settings or inputs (fingerprint ``fp``), or when it is damaged (a
    cut-off or garbage file: said in one line). A state that is not used is deleted (by ``main``)."""
    old = state_dir.with_name(state_dir.name + ".old")
    if not state_dir.exists() and old.exists():  # killed between save_state's two renames
        old.rename(state_dir)
    if not state_dir.exists():
        return None
    try:
        meta = json.loads((state_dir / "state.json").read_text())
        if isinstance(meta, dict) and meta.get("fingerprint") == fp:
            return load_state(state_dir, model, opt)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:
        if main:
            detail = (str(err).strip().splitlines() or [""])[0][:160]
            log(f"{state_dir}: damaged resume state ({type(err).__name__}: {detail}); starting from scratch")
    if main:
        shutil.rmtree(state_dir.parent, ignore_errors=True)
    return None


def fingerprint(*parts: Any, files: tuple[Path, ...] = ()) -> str:
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def truncate_live(live_dir: Path, step: int) -> None:
    """On resume, drop logged rows after the checkpoint step (they will be logged again)."""
    for tsv in (live_dir / "plots").rglob("*.tsv") if (live_dir / "plots").exists() else []:
        lines = tsv.read_text().splitlines()
        if not lines:
            continue
        head, rows = lines[0], lines[1:]
        col = head.split("\t").index("step") if "step" in head.split("\t") else None
        if col is None:
            continue
        kept = [r for r in rows if int(r.split("\t")[col]) <= step]
        tsv.write_text("\n".join([head, *kept]) + "\n")
