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
