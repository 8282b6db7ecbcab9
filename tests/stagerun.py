"""Run one stage script in a scratch directory (the bad-input tests), as ``python stages/<s>.py args``.

Most of these runs stop at a params or input check within a second, yet a fresh interpreter spends
about 3 s importing torch first; the suite runs about 80 of them. So each test process starts one
*stage server* (a plain ``python`` that imports torch and the package, and computes nothing), and every
run is a ``fork`` of it: the unchanged stage script is executed as ``__main__`` with its own argv, working
directory, stdout and stderr files, and exit status (``SystemExit`` as the interpreter reports it, an
uncaught exception as a traceback and status 1). The server never runs stage code, so each child starts
from the same freshly imported state, as a new process would. The pipeline test runs the stages through
DVC in real processes.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

SERVER = r"""
import json, os, runpy, sys, time, traceback
import torch, interplay.jobs, interplay.runtime  # what the stages import; computes nothing
import interplay.evaluate, interplay.prompt_filter, interplay.rl, interplay.train

def child(req):
    os.chdir(req["cwd"])
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    sys.argv = [req["script"], *req["args"]]
    sys.path[0] = os.path.dirname(req["script"])
    code = 0
    try:
        runpy.run_path(req["script"], run_name="__main__")
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code & 0xFF)

for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            child(req)
        finally:
            os._exit(70)
    deadline = time.monotonic() + req["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            reply = {"rc": os.waitstatus_to_exitcode(status), "timeout": False}
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            reply = {"rc": -9, "timeout": True}
            break
        time.sleep(0.005)
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
"""

_server: subprocess.Popen | None = None


def _get_server() -> subprocess.Popen:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        atexit.register(_stop, _server)
    return _server


def _stop(server: subprocess.Popen) -> None:
    server.stdin.close()  # the server's loop ends at end of input
    server.wait(timeout=30)
    server.stdout.close()


def script(workdir: Path, name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python stages/<name>.py args...`` in ``workdir`` (forked from the stage server)."""
    server = _get_server()
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        path = str(ROOT / "stages" / f"{name}.py")
        req = {"cwd": str(workdir), "script": path, "args": list(args), "timeout": timeout}
        server.stdin.write(json.dumps({**req, "stdout": str(out), "stderr": str(err)}) + "\n")
        server.stdin.flush()
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"the stage server exited with status {server.wait()} (an import failed?)")
        reply = json.loads(line)
        if reply["timeout"]:
            raise subprocess.TimeoutExpired([path, *args], timeout)
        return subprocess.CompletedProcess(
            [path, *args], reply["rc"], out.read_text(errors="replace"), err.read_text(errors="replace")
        )


def run(workdir: Path, params: dict, name: str, *args: str) -> subprocess.CompletedProcess:
    """``python stages/<name>.py args...`` in ``workdir`` after writing ``params`` there."""
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return script(workdir, name, *args)
