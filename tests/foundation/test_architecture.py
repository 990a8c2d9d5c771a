"""The house rules a tool can check (docs/ARCHITECTURE.md): imports at the top, jobs named by a real path.

The layers and the absence of cycles are import-linter's contracts (pyproject.toml, run by ``make lint``); these
tests add what it cannot see.
"""

from __future__ import annotations

import ast
from pathlib import Path

from rq.utils import import_attribute

ROOT = Path(__file__).resolve().parents[2] / "evosync"


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def _function_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for statement in ast.walk(node):
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    yield statement


def _explained(lines: list[str], statement: ast.stmt) -> bool:
    """A comment on the import's line, or on the line above it or above the block of imports it belongs to."""
    if "#" in lines[statement.lineno - 1]:
        return True
    above = statement.lineno - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def test_no_import_inside_a_function_without_a_comment_saying_why():
    unexplained = []
    for path, source in _modules():
        lines = source.splitlines()
        for statement in _function_imports(ast.parse(source)):
            if not _explained(lines, statement):
                unexplained.append(f"{path.relative_to(ROOT.parent)}:{statement.lineno}")
    assert unexplained == [], "move these imports to the top of the module, or say why they cannot be there"


def _named_jobs():
    """Every string literal that names a job: the first argument of enqueue/enqueue_in/enqueue_once calls, and
    module-level constants ending in _JOB."""
    for path, source in _modules():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "enqueue",
                "enqueue_in",
            ):
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield path, first.value
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(n.endswith("_JOB") for n in names) and isinstance(node.value.value, str):
                    yield path, node.value.value


def test_every_job_a_service_names_is_a_function_in_evosync_jobs():
    named = list(_named_jobs())
    assert len(named) >= 8, named  # the check finds them: syncs, refreshes, mail, sms, account deletion, drains
    for path, name in named:
        assert name.startswith("evosync.jobs."), f"{path}: {name} is not a job module"
        assert callable(import_attribute(name)), f"{path}: {name}"
