"""The layering of docs/adr/0020, checked by import-linter exactly as pyproject.toml declares it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "stacks", "modules", "scripts")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root, capture_output=True, text=True, check=False,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [[m.strip() for m in layer.replace("|", ":").split(":")] for layer in contract["layers"]]


def test_the_tree_keeps_every_import_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


def test_every_module_of_app_belongs_to_a_layer() -> None:
    """`app` holds three layers (contracts, configuration, the composition root): a new module in it
    must be placed in one, or the linter would not check it."""
    placed = {m for layer in _layers() for m in layer}
    for path in sorted((ROOT / "app").iterdir()):
        if (path.name.startswith("_") and path.name != "__main__.py") or path.suffix not in (".py", ""):
            continue
        if path.is_dir() and not (path / "__init__.py").exists():
            continue
        module = f"app.{path.stem}"
        assert module in placed, f"{module} is in no layer of [tool.importlinter] (pyproject.toml)"


@pytest.mark.parametrize(
    ("module", "injected", "forbidden"),
    [
        ("modules/kms_key.py", "import app.schema", "modules.kms_key -> app.schema"),  # a construct reading config
        ("stacks/base.py", "import scripts.terraform", "stacks.base -> scripts.terraform"),  # stacks using the CLI
        ("app/contracts/names.py", "import app.schema", "app.contracts.names -> app.schema"),
        ("app/schema.py", "import stacks.target", "app.schema -> stacks.target"),
        ("scripts/deploy.py", "import app.main", "scripts.deploy -> app.main"),  # operations using the root
    ],
)
def test_a_new_upward_import_breaks_the_build(tmp_path: Path, module: str, injected: str, forbidden: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{injected}  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert forbidden in result.stdout, result.stdout
