"""Run directories and resume state, shared by the trainer and RL.

A run writes its final checkpoint to ``out`` (a DVC output), its resume state to ``resume`` (not a
DVC output, so it survives a kill) and its dvclive logs to ``live``. ``Harness`` is the plumbing
every training loop here shares (pre-/mid-training and RL): resume, logging, progress, periodic
resume state, final save; the loops themselves keep only their own phases. The resume state is the model,
the optimizer (both safetensors) and the step with any run-specific metadata (json), written to a
temporary directory and renamed into place; it belongs to one fingerprint of the run's settings and
inputs and is ignored (and deleted) under any other.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Mapping
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
    resume: Path  # runs.resume_dir(<run>) (not a DVC output: survives a kill)
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


class Harness:
    """One training run's plumbing. Only the main process (``main``) writes.

    On creation: restore the resume state if it belongs to this run (``fingerprint``), else start from
    step 0; open dvclive (its logs cut back to the resumed step) and a progress bar. Then per step:
    ``log`` (every ``log_every`` steps and the last), ``tick``, ``checkpoint`` (the resume state every
    ``checkpoint_every`` steps, or at a requested stop); at the end ``finish`` (summary, final
    checkpoint with any ladder checkpoints, resume state removed)."""

    def __init__(
        self,
        paths: RunPaths,
        fp: str,
        model: torch.nn.Module,
        opt: torch.optim.Optimizer,
        main: bool,
        steps: int,
        desc: str,
        progress: bool = True,
    ) -> None:
        from tqdm import tqdm

        self.paths, self.fp, self.model, self.opt, self.main, self.steps = paths, fp, model, opt, main, steps
        self.state_dir = paths.resume / "state"
        self.meta = resume(self.state_dir, fp, model, opt, main) or {}
        self.start = int(self.meta.get("step", 0))
        self.live = None
        if main:
            from dvclive import Live

            paths.resume.mkdir(parents=True, exist_ok=True)
            if self.start:
                truncate_live(paths.live, self.start)
            self.live = Live(
                dir=str(paths.live), resume=self.start > 0, dvcyaml=None, save_dvc_exp=False, report=None
            )
            self.live.step = self.start
        self.bar = tqdm(
            total=steps,
            initial=self.start,
            desc=desc,
            unit="step",
            disable=not (progress and main),
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
        )

    def log(self, done: int, metrics: Mapping[str, float], every: int) -> bool:
        """Log ``metrics`` at step ``done`` when it is a logging step; True if it was."""
        if self.live is None or not (done % every == 0 or done == self.steps):
            return False
        self.live.step = done
        for k, v in metrics.items():
            self.live.log_metric(k, v)
        self.live.make_summary()
        return True

    def tick(self, **postfix: str) -> None:
        if postfix:
            self.bar.set_postfix(**postfix)
        self.bar.update(1)

    def checkpoint(self, done: int, every: int, stop_after: int | None, meta: Mapping[str, Any] = {}) -> bool:
        """Save the resume state every ``every`` steps (not after the last) or when the run is asked
        to stop after ``stop_after`` steps (tests: a kill); True when it stops here."""
        stopping = stop_after is not None and done - self.start >= stop_after and done < self.steps
        if self.main and ((done % every == 0 and done < self.steps) or stopping):
            save_state(self.state_dir, self.model, self.opt, done, {"fingerprint": self.fp, **meta})
        if stopping:
            self.bar.close()
        return stopping

    def finish(self, summary: Mapping[str, Any], tokenizer: Path, extra: Mapping[str, Any]) -> None:
        """The summary into dvclive; the final checkpoint (with the ladder checkpoints saved during the
        run) written to ``out``; the resume state removed."""
        self.bar.close()
        if not self.main:
            return
        for k, v in summary.items():
            self.live.summary[k] = v
        self.live.end()
        self.model.cpu()
        M.save(self.model, self.paths.out, tokenizer, extra=dict(extra))
        ladder = self.paths.resume / "ladder"
        if ladder.exists():
            shutil.copytree(ladder, self.paths.out / "ladder")
        shutil.rmtree(self.paths.resume, ignore_errors=True)
