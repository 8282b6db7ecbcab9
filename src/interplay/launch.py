"""Start a stage script directly, or under ``torchrun`` when ``params.yaml: launch.nproc`` > 1.

    python -m interplay.launch stages/train.py pretrain base

``launch.nproc`` processes per node (gloo on CPU, NCCL on CUDA); ``launch.nnodes``, ``launch.rdzv``
for several machines (``torchrun --nnodes N --rdzv-endpoint host:port``). PyTorch's own launcher;
nothing home-made.
"""

from __future__ import annotations

import os
import sys

from interplay import params


def command(argv: list[str], cfg: dict) -> list[str]:
    nproc = params.as_int(cfg.get("nproc", 1), "launch.nproc", lo=1, hi=params.MAX_THREADS)
    nnodes = params.as_int(cfg.get("nnodes", 1), "launch.nnodes", lo=1, hi=1 << 16)
    if nproc == 1 and nnodes == 1:
        return [sys.executable, *argv]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}", f"--nnodes={nnodes}"]
    if nnodes > 1:
        params.need("rdzv" in cfg, "launch.rdzv", "several nodes need a rendezvous endpoint host:port")
        cmd += ["--rdzv-backend=c10d", f"--rdzv-endpoint={cfg['rdzv']}"]
    else:
        cmd += ["--standalone"]
    return [*cmd, *argv]


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m interplay.launch <stage script> [args...]")
    try:
        cfg = params.load().get("launch") or {}
        cmd = command(sys.argv[1:], cfg)
    except params.ParamsError as err:
        raise SystemExit(f"error: {err}") from None
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
