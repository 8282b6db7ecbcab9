"""Shared start-up for stage scripts: clear errors instead of tracebacks for bad input, thread pinning."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from interplay.params import ParamsError


def run_stage(main: Callable[..., Any], *args: Any) -> None:
    """Run a stage's ``main``; a ParamsError or a missing input file exits 2 with one clear line."""
    try:
        main(*args)
    except (ParamsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def set_threads(n: int) -> None:
    """Pin torch's intra-op threads (the biggest lever on a 2-core machine: see cpu-scale.md)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    import torch

    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # inter-op threads can be set once per process
        torch.set_num_interop_threads(1)
