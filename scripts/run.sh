#!/usr/bin/env bash
# Run a command inside the project's environment, creating it first if needed (idempotent).
#   bash scripts/run.sh dvc repro            # the main job on the default params
#   bash scripts/run.sh python -m pytest     # the tests
set -euo pipefail
cd "$(dirname "$0")/.."

export DVC_NO_ANALYTICS=1            # no background analytics process after every dvc command
export PIP_DISABLE_PIP_VERSION_CHECK=1
: "${GIT_AUTHOR_NAME:=interplay}" "${GIT_AUTHOR_EMAIL:=interplay@localhost}"
: "${GIT_COMMITTER_NAME:=$GIT_AUTHOR_NAME}" "${GIT_COMMITTER_EMAIL:=$GIT_AUTHOR_EMAIL}"
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL   # dvc exp needs them

stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  python3 -m venv .venv
  # torch is pinned to 2.13.0 (CPU build); the lock pins everything else. --no-compile: byte-compiling
  # all 13,000 installed .py files took about a minute; Python compiles the ~1,400 a stage imports on first use.
  .venv/bin/pip install -q --no-compile -c requirements.lock -e ".[dev]"
  touch "$stamp"
fi
. .venv/bin/activate
exec "$@"
