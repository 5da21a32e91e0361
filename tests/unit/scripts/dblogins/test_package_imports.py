"""scripts/dblogins sits below vault and rotation (ADR 0021): it must not import either of them,
nor the local target, or the two users of one login concept would be tied together again."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[4] / "scripts" / "dblogins"
ALLOWED_PROJECT = {"app.contracts", "app.contracts.names", "app.contracts.exitcodes"}


def project_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" if node.module == "scripts" else node.module for a in node.names]
        found.update(n for n in names if n.split(".")[0] not in sys.stdlib_module_names | {"psycopg"})
    return found


def test_dblogins_imports_only_itself_the_contract_layer_and_psycopg() -> None:
    outside = {
        f"{path.name}: {name}"
        for path in sorted(PACKAGE.glob("*.py"))
        for name in project_imports(path)
        if name not in ALLOWED_PROJECT and not name.startswith("scripts.dblogins")
    }
    assert outside == set()
    assert project_imports(PACKAGE / "slots.py") >= {"scripts.dblogins.model"}  # the check sees imports
