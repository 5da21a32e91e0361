"""Readable constructors (issue 19): no production function in app/, modules/, stacks/ or scripts/
is over 80 lines, measured with `ast` (from the `def` line to the body's last line, docstring and
comments included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COVERED = ("app", "modules", "stacks", "scripts")
MAX_LINES = 80


def _lengths(source: str, filename: str = "<source>") -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function and method, nested ones included."""
    return [
        (node.name, node.lineno, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(ast.parse(source, filename=filename))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def _long_functions(directory: str) -> list[str]:
    found = []
    for path in sorted((REPO / directory).rglob("*.py")):
        for name, line, length in _lengths(path.read_text(encoding="utf-8"), str(path)):
            if length > MAX_LINES:
                found.append(f"{path.relative_to(REPO)}:{line} {name} ({length} lines)")
    return found


@pytest.mark.parametrize("directory", COVERED)
def test_no_function_is_over_80_lines(directory: str) -> None:
    assert list((REPO / directory).rglob("*.py")), f"{directory}/ has no Python files: wrong root?"
    assert _long_functions(directory) == []


def test_the_measure_counts_from_def_to_the_last_line() -> None:
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_LINES))
    source = "class C:\n    async def long(self):\n" + body
    assert ("long", 2, MAX_LINES + 1) in _lengths(source)
