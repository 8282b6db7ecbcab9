"""Parameter profiles: small override files deep-merged onto params.yaml.

``python -m interplay.profile smoke`` writes ``params.yaml`` = base params + ``profiles/smoke.yaml``
(a mapping merges key by key, except weight mappings and sizes, which replace; any other value
replaces; a top-level ``drop:`` lists dotted key patterns to remove afterwards, each level matched
with ``fnmatch``, e.g. ``rl.runs.*_s[12]`` for the extra training seeds; the ``dvc.yaml`` beside the
output is then rewritten without the figure stages' deps on the dropped runs' outputs). Used by the
test suite in temporary copies, and by users who want the tiny end-to-end run:
``python -m interplay.profile smoke && dvc repro``.
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


def combine(base: dict, over: dict) -> dict:
    """A profile's params: ``over`` merged onto ``base``, then its ``drop:`` patterns removed."""
    over = dict(over or {})
    patterns = list(over.pop("drop", None) or [])
    out = merge(base, over)
    drop(out, patterns)
    return out


def drop(params: Any, patterns: list[str]) -> list[str]:
    """Remove the keys matching each dotted pattern (``fnmatch`` per level) from nested mappings, in
    place; returns the removed keys' own names. A pattern that matches nothing is an error (a typo
    would otherwise keep a whole branch of the DAG in the profile)."""
    from fnmatch import fnmatchcase

    def walk(node: Any, parts: list[str]) -> list[str]:
        if not isinstance(node, dict):
            return []
        hits = [k for k in list(node) if fnmatchcase(str(k), parts[0])]
        if len(parts) == 1:
            for k in hits:
                del node[k]
            return [str(k) for k in hits]
        return [name for k in hits for name in walk(node[k], parts[1:])]

    removed: list[str] = []
    for pattern in patterns:
        names = walk(params, str(pattern).split("."))
        if not names:
            raise SystemExit(f"error: profile drop pattern '{pattern}' matches no key")
        removed += names
    return removed


def drop_deps(dvc_yaml: Any, names: set[str]) -> int:
    """Remove from the listed (non-``foreach``) stages of a parsed ``dvc.yaml`` every dependency on
    an output of a dropped run, and from its plots every curve drawn from one: a path with a
    component (or a file stem) among ``names``. Returns how many were removed. ``foreach`` stages
    need nothing: they expand over the params."""

    def gone(path: Any) -> bool:
        return any(part in names or Path(part).stem in names for part in Path(str(path)).parts)

    n = 0
    for entry in dvc_yaml.get("plots") or []:
        props = next(iter(entry.values())) if isinstance(entry, dict) and len(entry) == 1 else None
        ys = props.get("y") if isinstance(props, dict) else None
        for f in [f for f in ys or {} if gone(f)] if isinstance(ys, dict) else []:
            del ys[f]
            n += 1
    for stage in (dvc_yaml.get("stages") or {}).values():
        deps = stage.get("deps") if isinstance(stage, dict) and "foreach" not in stage else None
        if not deps:
            continue
        for i in reversed(range(len(deps))):
            if gone(deps[i]):
                del deps[i]
                n += 1
    return n


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
    over = rt.load(path.read_text()) or {}
    patterns = list(over.pop("drop", None) or [])
    merge_in_place(doc, over)  # the profile's own spelling of each value
    dropped = set(drop(doc, patterns))
    buf = io.StringIO()
    rt.dump(doc, buf)
    params = yaml.safe_load(buf.getvalue())
    want = combine(yaml.safe_load(base.read_text()), yaml.safe_load(path.read_text()) or {})
    if params != want:  # the round trip must give exactly the merged values
        raise RuntimeError(f"profile '{profile}': round-trip YAML differs from the merged params")
    header = f"# generated: {base.name} + {path} (python -m interplay.profile {profile})\n"
    dvc_in, dvc_out = base.parent / "dvc.yaml", out.parent / "dvc.yaml"
    if dropped and dvc_in.exists():  # the runs are gone: so are the figure stages' deps on them
        dv = YAML()  # dvc.yaml's own layout: quotes kept, lists indented under their key
        dv.width, dv.preserve_quotes = 4096, True
        dv.indent(mapping=2, sequence=4, offset=2)
        stages = dv.load(dvc_in.read_text())
        drop_deps(stages, dropped)
        dbuf = io.StringIO()
        dv.dump(stages, dbuf)
        write_text(dvc_out, dbuf.getvalue())
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
