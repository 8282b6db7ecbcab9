"""Run one stage script in a scratch directory with the given params (the bad-input tests)."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(workdir: Path, params: dict, script: str, *args: str) -> subprocess.CompletedProcess:
    """``python stages/<script>.py args...`` in ``workdir`` after writing ``params`` there."""
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / f"{script}.py"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
