"""Reading ``params.yaml`` and checking it before any compute.

Every error names the offending key path (``datasets.pretrain.ops: ...``) so a user can find it.

Configs are declared once, as frozen dataclasses whose fields carry their checks (``option``: bounds,
choices, a string sentinel such as ``"auto"``, a one-line doc); ``parse`` turns a params mapping into
one, checking every key and value from the field's type and metadata. What relates several fields
(``min_lr <= lr``) stays in the config's own ``config_from_params``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A params.yaml value is invalid; the message starts with its key path."""


def load(path: str | Path = "params.yaml") -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise ParamsError(f"{p}: params file not found")
    try:
        with p.open() as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ParamsError(f"{p}:{where}: not valid YAML ({what})") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{p}: top level must be a mapping")
    return data


def blame(err: ParamsError, key: str, entry: Mapping[str, Any] | None, defaults_key: str) -> ParamsError:
    """An error about ``key.<field>`` of a merged ``{**defaults, **entry}`` renamed to
    ``defaults_key.<field>`` when the field came from the defaults: the key the user edited."""
    msg = str(err)
    if not msg.startswith(key + "."):
        return err
    field = msg[len(key) + 1 :].split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
    if field in (entry or {}):
        return err
    return ParamsError(defaults_key + msg[len(key) :])


def section(params: Mapping[str, Any], key: str) -> Any:
    """``params[a][b]...`` for a dotted key; a clear error when a level is missing."""
    cur: Any = params
    done = []
    for part in key.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            where = ".".join(done) or "params.yaml"
            raise ParamsError(f"{key}: not found (no '{part}' in {where})")
        cur = cur[part]
        done.append(part)
    return cur


MAX_THREADS = 1024  # threads, worker processes, processes per node: more is a typo on any machine


def need(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ParamsError(f"{key}: {msg}")


def as_int(value: Any, key: str, lo: int | None = None, hi: int | None = None) -> int:
    need(isinstance(value, int) and not isinstance(value, bool), key, f"expected an integer, got {value!r}")
    need(lo is None or value >= lo, key, f"must be >= {lo}, got {value}")
    need(hi is None or value <= hi, key, f"must be <= {hi}, got {value}")
    return value


def as_float(value: Any, key: str, lo: float | None = None, hi: float | None = None) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    need(ok, key, f"expected a number, got {value!r}")
    need(lo is None or value >= lo, key, f"must be >= {lo}, got {value}")
    need(hi is None or value <= hi, key, f"must be <= {hi}, got {value}")
    return float(value)


def as_choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    need(value in choices, key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_keys(d: Any, key: str, allowed: set[str], required: set[str] = frozenset()) -> None:
    need(isinstance(d, Mapping), key, f"expected a mapping, got {type(d).__name__}")
    unknown = sorted(map(str, set(d) - allowed))
    more = f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
    need(
        not unknown,
        f"{key}.{unknown[0]}" if unknown else key,
        f"unknown key{more}; allowed: {sorted(allowed)}",
    )
    missing = sorted(required - set(d))
    need(not missing, key, f"missing key(s) {missing}")


def weights(value: Any, key: str, names: tuple[str, ...] | None = None) -> dict[str, float]:
    """A list (uniform) or a mapping of non-negative weights summing to 1."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        need(len(value) > 0, key, "empty list")
        for i, v in enumerate(value):
            need(isinstance(v, str), f"{key}[{i}]", f"expected a name, got {v!r}")
            need(
                names is None or v in names, f"{key}[{i}]", f"unknown {v!r}; known: {', '.join(names or ())}"
            )
            need(v not in value[:i], f"{key}[{i}]", f"duplicate entry {v!r}")
        value = {v: 1.0 / len(value) for v in value}
    need(isinstance(value, Mapping) and len(value) > 0, key, f"expected a list or a mapping, got {value!r}")
    out = {}
    for name, w in value.items():
        if names is not None:
            need(name in names, f"{key}.{name}", f"unknown; known: {', '.join(names)}")
        out[str(name)] = as_float(w, f"{key}.{name}", lo=0.0)
    total = sum(out.values())
    need(abs(total - 1.0) <= 1e-6, key, f"weights must sum to 1, got {total:.6g}")
    return out


# ----------------------------------------------------------------------------------------------
# declarative configs


def option(
    default: Any = dataclasses.MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    sentinel: str | None = None,
    doc: str = "",
    settable: bool = True,
    custom: bool = False,
) -> Any:
    """A config field with its checks for ``parse``: bounds for a number (and for each element of a
    tuple of numbers), the allowed strings, a string accepted as is where a number is expected
    (``sentinel``, e.g. ``"auto"``), a one-line ``doc``. ``settable=False``: not read from params
    (set by code, e.g. a vocabulary size from the tokenizer). ``custom=True``: a params key whose
    value the config's own ``config_from_params`` checks (``parse`` accepts the key, leaves the
    default). A callable ``default`` is a default factory."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "sentinel": sentinel, "doc": doc, "settable": settable}
    meta["custom"] = custom
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def settable_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("settable", True)]


def parse(cls: type, d: Any, key: str) -> Any:
    """``cls`` from the params mapping ``d``: unknown and missing keys, and every value against its
    field's type (bool, int, float, str, optional, tuples) and ``option`` checks, each error naming
    ``key.<field>``."""
    hints = typing.get_type_hints(cls)
    fs = settable_fields(cls)
    required = {
        f.name for f in fs if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    check_keys(d, key, {f.name for f in fs}, required)
    kw = {
        f.name: check_value(d[f.name], f"{key}.{f.name}", hints[f.name], f.metadata)
        for f in fs
        if f.name in d and not f.metadata.get("custom")
    }
    return cls(**kw)


def check_value(value: Any, key: str, typ: Any, meta: Mapping[str, Any]) -> Any:
    """One value against a type and ``option`` metadata (see ``parse``)."""
    sentinel = meta.get("sentinel")
    if sentinel is not None and isinstance(value, str) and value == sentinel:
        return value
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None) and not (a is str and sentinel is not None)]
        need(len(rest) == 1, key, f"no check for type {typ}")
        typ = rest[0]
    lo, hi = meta.get("lo"), meta.get("hi")
    if typ is bool:
        need(isinstance(value, bool), key, "expected true or false")
        return value
    if typ is int:
        return as_int(value, key, lo, hi)
    if typ is float:
        return as_float(value, key, lo, hi)
    if typ is str:
        if meta.get("choices"):
            return as_choice(value, key, meta["choices"])
        need(isinstance(value, str) and value != "", key, f"expected a name, got {value!r}")
        return value
    if typing.get_origin(typ) is tuple:
        args = typing.get_args(typ)
        each = {"lo": lo, "hi": hi}
        if len(args) == 2 and args[1] is Ellipsis:  # any length
            value = [] if value is None else value
            need(isinstance(value, list), key, f"expected a list, got {value!r}")
            return tuple(check_value(x, f"{key}[{i}]", args[0], each) for i, x in enumerate(value))
        need(isinstance(value, list) and len(value) == len(args), key, f"expected a list of {len(args)}")
        return tuple(check_value(x, f"{key}[{i}]", a, each) for i, (x, a) in enumerate(zip(value, args)))
    raise TypeError(f"{key}: no check for type {typ}")


def describe(cls: type, key: str) -> list[str]:
    """One line per settable field of a config: key, type, default, bounds or choices, its doc."""
    hints = typing.get_type_hints(cls)
    lines = []
    for f in settable_fields(cls):
        m = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else "required"
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        rule = [
            f"{m['lo']} <= x" if m.get("lo") is not None else "",
            f"x <= {m['hi']}" if m.get("hi") is not None else "",
        ]
        rule = ", ".join(r for r in rule if r)
        if m.get("choices"):
            rule = " | ".join(m["choices"])
        if m.get("sentinel"):
            rule = f"{rule} or {m['sentinel']!r}" if rule else repr(m["sentinel"])
        typ = getattr(hints[f.name], "__name__", None) or str(hints[f.name])
        lines.append(
            f"{key}.{f.name}: {typ} = {default!r}" + (f" ({rule})" if rule else "") + f"  {m.get('doc', '')}"
        )
    return lines
