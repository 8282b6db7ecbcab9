"""Single bad edits of params.yaml are rejected by the stages' checks, naming the edited key.

The checks are the ones every stage runs first (``interplay.jobs``), called for every stage the DAG
declares (``jobs.check``, the ``python -m interplay.check`` command). An edit is *bad by construction*
when it puts a value of the wrong kind at a leaf (text where a number or a name goes, a mapping where
a scalar goes, a number where a name or a range goes) or adds an unknown key to a mapping. Each must
give a ``ParamsError`` (no other exception), in one line, and at least one error must name the edited
key, one of its parents below the top level, or one of its children.
"""

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interplay import jobs, params, profile

ROOT = Path(__file__).resolve().parents[1]
PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")


def _profiles() -> dict[str, dict]:
    base = params.load(ROOT / "params.yaml")
    out = {"default": base}
    for name in ("smoke", "paper"):
        out[name] = profile.combine(base, yaml.safe_load((ROOT / "profiles" / f"{name}.yaml").read_text()))
    return out


PROFILES = _profiles()


def leaves(x, path: tuple = ()):
    """(path, value) of every scalar leaf; a path is a tuple of mapping keys and list indices."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, (*path, i))
    elif x is not None:
        yield path, x


def mappings(x, path: tuple = ()):
    if isinstance(x, dict):
        yield path
        for k, v in x.items():
            yield from mappings(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from mappings(v, (*path, i))


def dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def bad_values(value) -> list:
    """Values of the wrong kind for a leaf holding ``value``."""
    if isinstance(value, bool):
        return ["zz_bad", 3, {"a": 1}]
    if isinstance(value, (int, float)):
        return ["zz_bad", True, {"a": 1}, [1, 2]]
    return [{"a": 1}, "zz_bad", 3.5]


def edit(p: dict, path: tuple, value) -> dict:
    q = copy.deepcopy(p)
    node = q
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return q


def named_keys(errors: list[str]) -> list[str]:
    """The key each error line names: ``<stage>: <key>: <message>``."""
    out = []
    for line in errors:
        rest = line.split(": ", 1)[1] if ": " in line else line
        out.append(rest.split(": ", 1)[0])
    return out


def names_the_edit(key: str, edited: str) -> bool:
    if key == edited or key.startswith(edited + ".") or key.startswith(edited + "["):
        return True  # the key or one of its children
    parent = edited.startswith(key + ".") or edited.startswith(key + "[")
    return parent and len(PATH_PART.findall(key)) >= 2  # a parent, but not a whole top-level section


def assert_rejected(p: dict, edited: str) -> None:
    try:
        errors = jobs.check(p)
    except Exception as err:  # the property: no other exception
        pytest.fail(f"edit of {edited}: {type(err).__name__}: {err}")
    assert errors, f"edit of {edited} accepted"
    assert all("\n" not in e for e in errors)
    keys = named_keys(errors)
    assert any(names_the_edit(k, edited) for k in keys), f"edit of {edited}: errors name {keys}"


def test_the_shipped_params_check_out():
    for name, p in PROFILES.items():
        assert jobs.check(p) == [], name


def test_every_leaf_with_a_wrong_kind_of_value_is_rejected():
    """Exhaustive over the smoke profile's params, one bad value of each kind per leaf: the default's
    every section and key with one run of each kind (the default's extra training seeds, shares and
    splits repeat the same keys), at a third of the checking time."""
    p = PROFILES["smoke"]
    failures = []
    for path, value in leaves(p):
        for bad in bad_values(value):
            try:
                assert_rejected(edit(p, path, bad), dotted(path))
            except AssertionError as err:
                failures.append(f"{dotted(path)} = {bad!r}: {str(err).splitlines()[0]}")
            except pytest.fail.Exception as err:
                failures.append(f"{dotted(path)} = {bad!r}: {err}")
    assert failures == []


# keys where any large number is a legitimate (if odd) setting: seeds, rates, coefficients, intervals
UNBOUNDED = {"seed", "master_seed", "temperature", "problems_per_op", "lr", "rope_theta", "checkpoint_every"}
UNBOUNDED |= {"log_every", "clip_eps", "kl_coef", "grad_clip", "weight_decay"}


def test_every_number_no_machine_can_run_is_rejected():
    """10^15 threads, layers, samples, steps, tokens, ... is a typo: rejected before any work."""
    p = PROFILES["default"]
    accepted = []
    for path, value in leaves(p):
        if isinstance(value, bool) or not isinstance(value, int | float) or path[-1] in UNBOUNDED:
            continue
        try:
            assert_rejected(edit(p, path, 10**15), dotted(path))
        except (AssertionError, pytest.fail.Exception) as err:
            accepted.append(f"{dotted(path)}: {str(err).splitlines()[0]}")
    assert accepted == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_bad_edit_of_any_profile_is_rejected(data):
    name = data.draw(st.sampled_from(sorted(PROFILES)))
    p = PROFILES[name]
    if data.draw(st.booleans()):
        path, value = data.draw(st.sampled_from(list(leaves(p))))
        q = edit(p, path, data.draw(st.sampled_from(bad_values(value))))
        assert_rejected(q, dotted(path))
    else:
        path = data.draw(st.sampled_from(list(mappings(p))))
        q = copy.deepcopy(p)
        node = q
        for part in path:
            node = node[part]
        node["zz_typo"] = 1
        assert_rejected(q, dotted((*path, "zz_typo")))


def test_check_command_names_the_key_and_exits_2(tmp_path, capsys):
    bad = edit(PROFILES["default"], ("train_defaults", "lr"), "fast")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert jobs.main([str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("error: pretrain@") or "train_defaults.lr" in line for line in err)
    assert any("train_defaults.lr" in line for line in err)
    path.write_text(yaml.safe_dump(PROFILES["default"]))
    assert jobs.main([str(path)]) == 0
