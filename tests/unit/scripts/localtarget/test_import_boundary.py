"""The local target (scripts/localtarget: emulator, OpenBao and PostgreSQL on loopback) is a
development harness: only the CLI layer and the tests may import it (issue 19 item 4).

Operations code (vault, rotation, migrate, ci, state, …) takes what it needs from the local target
as plain values the CLI passes in, so it runs the same against AWS and knows nothing of a laptop.
The source is parsed, not imported: a lazy import inside a function counts as much as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
PRODUCTION = ("app", "stacks", "modules", "scripts")
LOCALTARGET = "scripts.localtarget"

# Who may import the local target, and why:
ALLOWED_PACKAGES = ("scripts/localtarget/",)  # itself
ALLOWED_MODULES = {
    "scripts/platformctl.py": "the CLI entry point",
    "scripts/commands/core.py": "`local up/down/env`, `deploy`, `doctor`: the commands that run the local target",
    "scripts/doctor.py": "the checks of `platformctl doctor`, which look for the local target's binaries",
    "scripts/vault/cli.py": "`vault bootstrap --env local` reads the running target and passes its values on",
    "scripts/ci/cli.py": "`ci` stages on the emulator point the environment at the running local target",
    "scripts/migrate/cli.py": "`migrate run --local --environment local` logs in to the running local OpenBao",
    "scripts/jobs/cli.py": "`job run --env local` runs the job against the running local OpenBao",
}
# The CLI modules above are command modules the CLI registers (scripts/commands/__init__.py).
CLI_MODULES = {"scripts/vault/cli.py", "scripts/ci/cli.py", "scripts/migrate/cli.py", "scripts/jobs/cli.py"}


def imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def localtarget_importers() -> set[str]:
    importers = set()
    for top in PRODUCTION:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            names = imported_modules(ast.parse(path.read_text(), filename=rel))
            if any(n == LOCALTARGET or n.startswith(LOCALTARGET + ".") for n in names):
                importers.add(rel)
    return importers


def test_only_the_cli_layer_imports_the_local_target() -> None:
    importers = localtarget_importers()
    outside = sorted(p for p in importers if not p.startswith(ALLOWED_PACKAGES) and p not in ALLOWED_MODULES)
    assert outside == [], (
        f"{outside} import {LOCALTARGET}: read the local target in the CLI layer and pass plain values in"
    )


def test_the_check_sees_a_lazy_import_inside_a_function() -> None:
    source = "def f():\n    from scripts.localtarget import target\n    return target\n"
    assert LOCALTARGET + ".target" in imported_modules(ast.parse(source))
    assert LOCALTARGET in imported_modules(ast.parse("from scripts import localtarget\n"))


def test_the_allowed_cli_modules_are_registered_commands() -> None:
    from scripts.commands import COMMANDS

    registered = {module.replace(".", "/") + ".py" for module, _ in COMMANDS}
    assert registered >= CLI_MODULES
    assert CLI_MODULES | {"scripts/platformctl.py", "scripts/commands/core.py", "scripts/doctor.py"} == set(
        ALLOWED_MODULES
    )
