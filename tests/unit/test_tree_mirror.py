"""Tests mirror the source tree (issue 19): the tests of `scripts/vault/` live in
`tests/unit/scripts/vault/` and `tests/integration/scripts/vault/`, and so on. Only the rules about
the whole repository sit directly in `tests/unit/`."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPOSITORY_RULES = {  # about every package at once, so they belong to none
    "test_docs_commands.py",
    "test_function_length.py",
    "test_layers.py",
    "test_repository_paths.py",
    "test_suite_order.py",
    "test_tree_mirror.py",
}


def test_every_test_file_sits_below_the_package_it_tests() -> None:
    misplaced = []
    for kind in ("unit", "integration"):
        base = REPO / "tests" / kind
        for path in sorted(base.rglob("test_*.py")):
            package = path.parent.relative_to(base)
            if package == Path("."):
                if kind == "unit" and path.name in REPOSITORY_RULES:
                    continue
                misplaced.append(f"{path.relative_to(REPO)}: not below a source package")
                continue
            source = REPO / package
            # `tests/integration/stacks/service/` holds the tests of the module stacks/service.py;
            # `tests/integration/examples/django/` those of the example project examples/django/.
            if not source.is_dir() and not source.with_suffix(".py").is_file():
                misplaced.append(f"{path.relative_to(REPO)}: {package} is no directory or module of the source")
    assert not misplaced, "\n".join(misplaced)


def test_every_test_directory_is_a_package() -> None:
    """Without `__init__.py`, pytest would import `tests/unit/app/test_x.py` with `tests/unit` on
    sys.path, where `app` would shadow the project's own `app` package."""
    for kind in ("unit", "integration"):
        for directory in (REPO / "tests" / kind).rglob("*"):
            if directory.is_dir() and directory.name != "__pycache__" and any(directory.glob("*.py")):
                assert (directory / "__init__.py").is_file(), directory.relative_to(REPO)


def test_every_checkout_root_lookup_names_the_checkout() -> None:
    """`Path(__file__).resolve().parents[N]` must be the checkout whatever depth a test moved to."""
    wrong = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for match in re.finditer(r"__file__\)\.resolve\(\)\.parents\[(\d+)\]", path.read_text()):
            if path.parents[int(match.group(1))] != REPO:
                wrong.append(f"{path.relative_to(REPO)}: parents[{match.group(1)}]")
    assert not wrong, "\n".join(wrong)
