"""Shared start-up for stage scripts: clear errors instead of tracebacks for bad input, thread pinning."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from interplay.inputs import InputError
from interplay.params import ParamsError


def run_stage(main: Callable[..., Any], *args: Any, stage: str | None = None) -> None:
    """Run a stage's ``main``; bad params, a missing input or a damaged one (``inputs``) exit 2 with
    one line naming the stage (``stage``, e.g. ``evaluate@base``) and the key or file."""
    try:
        main(*args)
    except (ParamsError, FileNotFoundError, InputError) as err:
        where = f"{stage}: " if stage else ""
        print(f"error: {where}{err}", file=sys.stderr)
        raise SystemExit(2) from None


THREADS_ENV = "INTERPLAY_THREADS"


def threads_override(n: int) -> int:
    """``n``, or the ``INTERPLAY_THREADS`` environment variable when it is set.

    The override lets two independent DAG branches run side by side as two 1-thread ``dvc repro``
    processes without touching params.yaml (which would invalidate every stage). It is safe only where
    the thread count does not change numerics: on this machine 1 and 2 threads give bit-identical
    training gradients and sampled tokens (``docs/cpu-scale.md``, "Threads are the biggest lever")."""
    raw = os.environ.get(THREADS_ENV)
    if raw is None or raw == "":
        return n
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ParamsError(f"{THREADS_ENV}: expected a positive integer, got {raw!r}")
    return int(raw)


def set_threads(n: int) -> None:
    """Pin torch's intra-op threads (the biggest lever on a 2-core machine: see ``docs/cpu-scale.md``)."""
    n = threads_override(n)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    import torch

    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # inter-op threads can be set once per process
        torch.set_num_interop_threads(1)


PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_DOC = "forward arithmetic: bf16 autocast, fp32, or auto (bf16 on CUDA, fp32 on CPU)"


def autocast(device, precision: str) -> contextlib.AbstractContextManager:
    """The context a training forward runs in: bf16 autocast for ``bf16``, and for ``auto`` on CUDA;
    otherwise plain fp32 (``auto`` on CPU, where it is the default so recorded results stay as they
    were). Weights, gradients and optimizer state stay fp32 either way; losses are taken in fp32."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    kind = torch.device(device).type
    if precision == "bf16" or (precision == "auto" and kind == "cuda"):
        return torch.autocast(kind, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolve_device(name: str):
    """``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``, as a ``torch.device``."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return torch.device(name)
