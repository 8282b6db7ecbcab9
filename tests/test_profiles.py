"""Profiles merge onto params.yaml and give valid settings (smoke for CI, paper for GPUs)."""

import re
from pathlib import Path

import pytest
import yaml

from interplay import data
from interplay import model as M
from interplay.profile import apply, drop, drop_deps, merge
from interplay.rl import config_from_params as rl_config
from interplay.task.spec import task_spec_from_params
from interplay.train import config_from_params as train_config

ROOT = Path(__file__).resolve().parents[1]


def test_merge_is_deep_and_copies():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 3}
    out = merge(base, {"a": {"b": 2}, "e": 4})
    assert out == {"a": {"b": 2, "c": [1, 2]}, "d": 3, "e": 4} and base["a"]["b"] == 1


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_profile_params_are_valid(tmp_path, profile):
    p = apply(profile, ROOT / "params.yaml", tmp_path / "params.yaml", ROOT / "profiles")
    assert yaml.safe_load((tmp_path / "params.yaml").read_text()) == p
    task_spec_from_params(p["task"])
    for name, entry in p["datasets"].items():
        data.dataset_spec(name, entry)
    M.config_from_params(p["model"], 1000)
    for name, entry in p["pretrain"].items():
        train_config(entry, f"pretrain.{name}", p["train_defaults"])
    for name, entry in p["rl"]["runs"].items():
        rl_config({k: v for k, v in entry.items() if k != "budget"}, f"rl.runs.{name}", p["rl"]["defaults"])


def test_paper_profile_has_paper_scale(tmp_path):
    p = apply("paper", ROOT / "params.yaml", tmp_path / "params.yaml", ROOT / "profiles")
    cfg = M.config_from_params(p["model"], 2200)
    assert 100e6 < cfg.n_params() < 106e6  # paper: ~103.2M with a 2,200-token vocabulary
    assert p["rl"]["defaults"]["prompts_per_step"] == 1024 and p["evaluate"]["defaults"]["samples"] == 128


def test_unknown_profile(tmp_path):
    with pytest.raises(SystemExit, match="profile 'nope' not found"):
        apply("nope", ROOT / "params.yaml", tmp_path / "p.yaml", ROOT / "profiles")


def test_weight_mappings_are_replaced_not_merged():
    out = merge({"ds": {"ops": {"2": 0.5, "3": 0.5}, "split": "pre"}}, {"ds": {"ops": {"2-4": 1.0}}})
    assert out == {"ds": {"ops": {"2-4": 1.0}, "split": "pre"}}


def test_profile_keeps_the_base_comments_and_order(tmp_path):
    base = (ROOT / "params.yaml").read_text()
    apply("smoke", ROOT / "params.yaml", tmp_path / "params.yaml", ROOT / "profiles")
    out = (tmp_path / "params.yaml").read_text()
    comments = [ln.split("#", 1)[1].strip() for ln in base.splitlines() if "#" in ln]
    kept = [c for c in comments if c in out]
    assert len(comments) > 50 and len(kept) >= 0.9 * len(comments)  # was: 1 of 65 kept
    top = [ln.split(":")[0] for ln in base.splitlines() if ln and ln[0].isalpha()]
    assert [ln.split(":")[0] for ln in out.splitlines() if ln and ln[0].isalpha()] == top


def test_drop_removes_matching_keys_and_refuses_a_pattern_that_matches_none():
    params = {"rl": {"runs": {"a": 1, "a_s1": 2, "a_s2": 3, "b_s1": 4}}, "x": {"a_s1": 5}}
    assert sorted(drop(params, ["rl.runs.*_s[12]"])) == ["a_s1", "a_s2", "b_s1"]
    assert params == {"rl": {"runs": {"a": 1}}, "x": {"a_s1": 5}}
    with pytest.raises(SystemExit, match=re.escape("'rl.runs.*_s9' matches no key")):
        drop(params, ["rl.runs.*_s9"])


def test_smoke_drops_runs_with_their_figure_deps(tmp_path):
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    seeded = [n for n in base["rl"]["runs"] if n.endswith(("_s1", "_s2"))]
    assert seeded  # the default declares training seeds; the smoke profile keeps one per run
    p = apply("smoke", ROOT / "params.yaml", tmp_path / "params.yaml", ROOT / "profiles")
    assert not [n for n in p["rl"]["runs"] if n in seeded]
    sections = [
        ("datasets",),
        ("pretrain",),
        ("midtrain",),
        ("rl", "runs"),
        ("filter", "runs"),
        ("evaluate", "runs"),
    ]

    def names(params):
        out = set()
        for keys in sections:
            node = params
            for k in keys:
                node = node[k]
            out |= set(node)
        return out

    dropped = names(base) - names(p)
    assert set(seeded) <= dropped and "rl_mixed" in dropped and "seed_b10" in dropped
    stages = yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"]
    full = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def gone(dep):
        return any(part in dropped or Path(part).stem in dropped for part in Path(dep).parts)

    for name, stage in full.items():
        if "foreach" in stage:
            assert stages[name] == stage
            continue
        kept = [d for d in stage.get("deps", []) if not gone(d)]
        assert stages[name].get("deps", []) == kept, name
    assert len(yaml.safe_dump(stages)) < len(yaml.safe_dump(full))


def test_drop_deps_only_touches_listed_stages():
    doc = {
        "stages": {
            "f": {
                "deps": [
                    "reports/eval/a.parquet",
                    "reports/eval/a_s1.parquet",
                    "reports/train/a_s1/plots/metrics",
                    "src/x.py",
                ]
            },
            "e": {"foreach": "${x}", "do": {"deps": ["reports/eval/a_s1.parquet"]}},
        }
    }
    assert drop_deps(doc, {"a_s1"}) == 2
    assert doc["stages"]["f"]["deps"] == ["reports/eval/a.parquet", "src/x.py"]
    assert doc["stages"]["e"]["do"]["deps"] == ["reports/eval/a_s1.parquet"]
