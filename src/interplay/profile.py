"""Parameter profiles: small override files deep-merged onto params.yaml.

``python -m interplay.profile smoke`` writes ``params.yaml`` = base params + ``profiles/smoke.yaml``
(a mapping merges key by key, except weight mappings and sizes, which replace; any other value
replaces). Used by the test suite in temporary copies,
and by users who want the tiny end-to-end run: ``python -m interplay.profile smoke && dvc repro``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import yaml

from interplay.io import write_text

# weight mappings and sizes are replaced whole: merging {"2": .5, "3": .5} with {"2-4": 1.0} would
# leave weights that no longer sum to 1
REPLACED = frozenset({"ops", "contexts", "modes", "components", "size", "splits", "ranges"})


def merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if k in out and k not in REPLACED else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def apply(profile: str, base: Path, out: Path, profiles_dir: Path = Path("profiles")) -> dict[str, Any]:
    path = profiles_dir / f"{profile}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in profiles_dir.glob("*.yaml"))
        raise SystemExit(f"error: profile '{profile}' not found in {profiles_dir} (known: {known})")
    params = merge(yaml.safe_load(base.read_text()), yaml.safe_load(path.read_text()) or {})
    header = f"# generated: {base.name} + {path} (python -m interplay.profile {profile})\n"
    write_text(out, header + yaml.safe_dump(params, sort_keys=False, width=110))
    return params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile")
    ap.add_argument("--base", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, default=Path("params.yaml"))
    args = ap.parse_args()
    apply(args.profile, args.base, args.out)


if __name__ == "__main__":
    main()
