"""The DVC pipeline end to end on the smoke profile, in a temporary copy of the repository."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "OMP_NUM_THREADS": "1",
}


def sh(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, env=ENV, timeout=900)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("repo")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (d / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, d / f)
    sh("git init -q && python -m interplay.profile smoke && git add -A && git commit -qm init", d)
    sh("python -m interplay.lanes -j 2", d)  # the README's main job: dvc repro, two stages at a time
    return d


def test_repro_builds_everything_then_is_a_noop(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for name in params["datasets"]:
        assert (repo / f"data/datasets/{name}.parquet").exists()
    assert (repo / "data/tokenizer/tokenizer.json").exists()
    for key in params["findings"]:
        assert (repo / f"reports/findings/{key}.json").exists()
    assert "## Finding" in (repo / "reports/report.md").read_text()
    assert sh("dvc status", repo).strip() == "Data and pipelines are up to date."
    assert ran(sh("dvc repro", repo)) == set()  # the lanes left nothing for plain dvc repro to do


def test_results_travel_through_a_dvc_remote(repo, tmp_path):
    """What the README says about sharing: push to a remote, lose the local data and cache, pull it
    back: the same bytes, and nothing to rerun."""
    import hashlib

    files = sorted((repo / "data").rglob("*.safetensors")) + sorted((repo / "data/datasets").glob("*"))
    before = {f: hashlib.md5(f.read_bytes()).hexdigest() for f in files}
    sh(f"dvc remote add --local -d shared {tmp_path / 'remote'} && dvc push -q", repo)
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc/cache")
    sh("dvc pull -q", repo)
    assert {f: hashlib.md5(f.read_bytes()).hexdigest() for f in files} == before
    assert sh("dvc status", repo).strip() == "Data and pipelines are up to date."
    sh("dvc remote remove --local shared", repo)


def test_a_rebuilt_model_has_the_bytes_dvc_lock_records(repo):
    """What `lanes --allow-missing` relies on: on CPU a trained model rebuilt from scratch is the same
    directory, byte for byte (no wall time or resume count inside it), so what was computed from it in
    an earlier session stays valid."""
    stages = ["pretrain@base", "midtrain@mid_b50", "rl@rl_edge"]

    def model_hashes() -> dict[str, str]:
        lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
        return {s: o["md5"] for s in stages for o in lock[s]["outs"] if o["path"].startswith("data/models/")}

    before = model_hashes()
    assert len(before) == len(stages)
    out = sh(f"dvc repro -f -s {' '.join(stages)}", repo)
    assert ran(out) == set(stages)
    assert model_hashes() == before


def ran(out: str) -> set[str]:
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}


def test_editing_one_rl_run_reruns_only_its_branch(repo):
    p = repo / "params.yaml"
    params = yaml.safe_load(p.read_text())
    params["rl"]["runs"]["rl_hard"]["lr"] = 3e-5
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh("dvc repro", repo)
    assert (
        {"rl@rl_hard", "evaluate@rl_hard", "evaluate@rl_hard_edgeset"}
        <= ran(out)
        <= {
            "rl@rl_hard",
            "evaluate@rl_hard",
            "evaluate@rl_hard_edgeset",  # finding 1's OOD-edge set
            "figures_edge",
            "report",
        }
    ), out
    assert sh("dvc status", repo).strip() == "Data and pipelines are up to date."


def test_editing_one_dataset_reruns_only_it(repo):
    p = repo / "params.yaml"
    params = yaml.safe_load(p.read_text())
    params["datasets"]["rl_id"]["size"]["problems"] = 20
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    out = sh("dvc status", repo)
    changed = {
        line.strip().rstrip(":") for line in out.splitlines() if line and not line.startswith(("\t", " "))
    }
    assert changed == {"generate@rl_id"}
    params["datasets"]["pretrain"]["size"]["tokens"] = 31000
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    sh("dvc repro generate@pretrain", repo)
    out = sh("dvc status", repo)
    changed = {
        line.strip().rstrip(":") for line in out.splitlines() if line and not line.startswith(("\t", " "))
    }
    assert "generate@rl_id" in changed and "tokenizer" in changed
    assert not any(c.startswith("generate@eval") for c in changed)


def test_bytecode_is_not_a_dependency():
    """Importing the (editable) package writes src/interplay/task/__pycache__/, inside a directory
    that stages depend on: DVC must ignore it, or running the tests would make every dataset and
    evaluation stage look changed."""
    from dvc.repo import Repo

    repo = Repo(str(ROOT))
    try:
        pyc = ROOT / "src/interplay/task/__pycache__/graph.cpython-311.pyc"
        assert repo.dvcignore.is_ignored(repo.fs, str(pyc))
        assert repo.dvcignore.is_ignored_dir(str(pyc.parent))
        assert not repo.dvcignore.is_ignored(repo.fs, str(ROOT / "src/interplay/task/graph.py"))
    finally:
        repo.close()
