"""Every documentation reference in the code resolves inside the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for d in ("src", "stages", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")]
DOC_REF = re.compile(r"\bdocs/([\w./-]+\.md)")
# notes that live outside the repository (a clone has none of them)
OUTSIDE = re.compile(r"(?<![\w/])(paper|generator|cpu-scale|learnability-evidence)\.md\b")


def test_doc_references_resolve():
    refs = {(p, m.group(1)) for p in CODE for m in DOC_REF.finditer(p.read_text())}
    assert refs, "no docs/ reference found: the pattern is broken"
    missing = [
        f"{p.relative_to(ROOT)} -> docs/{name}" for p, name in refs if not (ROOT / "docs" / name).exists()
    ]
    assert missing == []


def test_no_reference_to_notes_outside_the_repository():
    hits = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for p in CODE
        if p.name != "test_docs.py"
        for m in OUTSIDE.finditer(p.read_text())
    ]
    assert hits == []


def test_every_dvc_stage_says_what_it_does():
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = [name for name, st in stages.items() if not (st.get("do") or st).get("desc")]
    assert stages and missing == []


def test_every_interval_the_readme_quotes_is_the_reports_own():
    """One interval per quantity: each "estimate [low, high]" in the README's results section appears,
    digit for digit, in a finding of ``reports/findings/`` and in ``reports/report.md``."""
    import json

    readme = (ROOT / "README.md").read_text()
    results = readme.split("## What it finds", 1)[1].split("\n## ", 1)[0]
    interval = re.compile(r"[+-]?\d+\.\d \[-?\d+\.\d, -?\d+\.\d\]")
    quoted = {m.group(0).lstrip("+") for m in interval.finditer(results)}
    assert quoted, "no interval found in the README's results: the pattern or the section moved"
    findings = " ".join(
        json.dumps(json.loads(p.read_text())) for p in (ROOT / "reports/findings").glob("*.json")
    )
    report = (ROOT / "reports/report.md").read_text()
    assert sorted(q for q in quoted if q not in findings) == []
    assert sorted(q for q in quoted if q not in report) == []
