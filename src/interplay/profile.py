"""Parameter profiles: small override files deep-merged onto params.yaml.

``python -m interplay.profile smoke`` writes ``params.yaml`` = base params + ``profiles/smoke.yaml``
(a mapping merges key by key, except weight mappings and sizes, which replace; any other value
replaces). Used by the test suite in temporary copies,
and by users who want the tiny end-to-end run: ``python -m interplay.profile smoke && dvc repro``.
The file is rewritten round-trip (``ruamel.yaml``): the base's comments and key order stay, so the
paper's value noted beside each setting survives.
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


def merge_in_place(base: Any, over: Any) -> Any:
    """``merge`` on a round-trip (comment-keeping) mapping: keys are updated where they stand."""
    if isinstance(base, dict) and isinstance(over, dict):
        for k, v in over.items():
            if k in base and k not in REPLACED and isinstance(base[k], dict) and isinstance(v, dict):
                merge_in_place(base[k], v)
            else:
                base[k] = copy.deepcopy(v)
        return base
    return copy.deepcopy(over)


def apply(profile: str, base: Path, out: Path, profiles_dir: Path = Path("profiles")) -> dict[str, Any]:
    import io

    from ruamel.yaml import YAML

    path = profiles_dir / f"{profile}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in profiles_dir.glob("*.yaml"))
        raise SystemExit(f"error: profile '{profile}' not found in {profiles_dir} (known: {known})")
    rt = YAML()  # round trip: comments, key order and flow style of the base survive
    rt.width = 110
    doc = rt.load(base.read_text())
    merge_in_place(doc, rt.load(path.read_text()) or {})  # the profile's own spelling of each value
    buf = io.StringIO()
    rt.dump(doc, buf)
    params = yaml.safe_load(buf.getvalue())
    want = merge(yaml.safe_load(base.read_text()), yaml.safe_load(path.read_text()) or {})
    if params != want:  # the round trip must give exactly the merged values
        raise RuntimeError(f"profile '{profile}': round-trip YAML differs from the merged params")
    header = f"# generated: {base.name} + {path} (python -m interplay.profile {profile})\n"
    write_text(out, header + buf.getvalue())
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
