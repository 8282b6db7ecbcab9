"""House rules of the library, checked on its source: short functions, no private names across modules."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "interplay"
MAX_LINES = 80
REASON = "Kept as one function"  # a longer function says why in its docstring


def long_functions(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES and REASON not in (ast.get_docstring(node) or ""):
                out.append(f"{node.name} ({lines} lines)")
    return out


def private_imports(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("interplay"):
            out += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return out


def _sources():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC), ast.parse(path.read_text())


def test_functions_are_short_or_say_why():
    assert not [f"{p}: {f}" for p, tree in _sources() for f in long_functions(tree)]


def test_no_module_imports_another_modules_private_names():
    assert not [f"{p}: {i}" for p, tree in _sources() for i in private_imports(tree)]


def test_the_scans_see_what_they_look_for():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    src = f"from interplay.task.graph import _Hidden, Graph\n\ndef f():\n{body}\n"
    assert long_functions(ast.parse(src)) == [f"f ({MAX_LINES + 1} lines)"]
    assert private_imports(ast.parse(src)) == ["interplay.task.graph._Hidden"]
    reasoned = f'def f():\n    """{REASON}: one loop."""\n{body}\n'
    assert long_functions(ast.parse(reasoned)) == []


# A stage's dvc.yaml deps must name every library module whose code shapes its outputs, or DVC would
# not rerun it when that code changes. Plumbing (params validation, file opening and writing, the
# launcher, the job builders that import every stage's library) is left out; the modules reached
# through the rest are followed.
PLUMBING = {
    "params",
    "io",
    "runtime",
    "inputs",
    "jobs",
    "launch",
    "dist",
    "runs",
    "lanes",
    "check",
    "profile",
}


def _module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    p = SRC.joinpath(*parts) if parts else SRC / "__init__"
    if p.with_suffix(".py").exists():
        return p.with_suffix(".py")
    return p / "__init__.py" if (p / "__init__.py").exists() else None


def shaping_modules(script: Path) -> set[Path]:
    """The library modules ``script`` reaches by its imports (nested ones too), not through plumbing."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("interplay"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("interplay")]
            for name in names:
                f = _module_file(name)
                if f is None or (f.parent == SRC and f.stem in PLUMBING | {"__init__"}) or f in seen:
                    continue
                seen.add(f)
                todo.append(f)
    return seen


def test_every_stage_depends_on_the_code_that_shapes_its_outputs():
    import yaml

    root = SRC.parents[1]
    missing = {}
    for name, stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].items():
        stage = stage.get("do", stage)
        script = next(w for w in stage["cmd"].split() if w.startswith("stages/"))
        deps = [str(d) for d in stage.get("deps", [])]
        gaps = set()
        for f in shaping_modules(root / script):
            rel = str(f.relative_to(root))
            if not any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps):
                gaps.add(str(f.relative_to(SRC)))
        if gaps:
            missing[name] = gaps
    assert missing == {}


def test_the_dependency_scan_follows_imports():
    found = {str(f.relative_to(SRC)) for f in shaping_modules(SRC.parents[1] / "stages/figures.py")}
    assert {"findings.py", "verdicts.py", "passk.py", "plots.py"} <= found
    assert "jobs.py" not in found and "params.py" not in found  # plumbing is not followed


def test_data_stages_start_without_torch():
    """The stages that only read and write data import no torch (about 3 s and its memory per stage
    process): every module they import, and their params checks on the default params."""
    import subprocess
    import sys

    root = SRC.parents[1]
    stages = ("generate", "tokenizer", "tokens", "calibrate", "report")
    imports = sorted(
        {
            line
            for s in stages
            for line in (root / "stages" / f"{s}.py").read_text().splitlines()
            if line.startswith(("import ", "from "))
        }
    )
    script = "\n".join(
        [
            *imports,
            "from interplay import jobs, params",
            "p = params.load()",
            "jobs.generate(p, 'pretrain'); jobs.tokenizer(p); jobs.tokens(p, 'pretrain')",
            "jobs.calibrate(p); jobs.report(p)",
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))",
        ]
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
