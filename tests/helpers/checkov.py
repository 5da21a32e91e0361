"""Run checkov (installed in its own virtualenv by `make setup`) on a synthesized stack directory.

Policy checks are part of done: a missing checkov is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from app.contracts.workspace import PROJECT_ROOT

CHECKOV = Path(os.environ.get("PLATFORM_CHECKOV", PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"))
CONFIG = PROJECT_ROOT / ".checkov.yaml"


def without_moved_blocks(stack_dir: Path, scratch: Path) -> Path:
    """checkov 3's terraform_json parser fails on a top-level `moved` list (and then reports nothing,
    not even an error exit): scan a copy without it. `moved` blocks hold no configuration to check."""
    data = json.loads((stack_dir / "cdk.tf.json").read_text())
    if "moved" not in data:
        return stack_dir
    copy = scratch / stack_dir.name
    shutil.copytree(stack_dir, copy)
    data.pop("moved")
    (copy / "cdk.tf.json").write_text(json.dumps(data))
    return copy


def run_checkov(stack_dir: Path) -> tuple[list[tuple[str, str, str]], int]:
    """(failed checks as (id, resource, name), number of passed checks) with the repo's skip list."""
    assert CHECKOV.exists(), f"checkov not found at {CHECKOV}; run `make setup` (installs it in .venv-checkov)"
    with tempfile.TemporaryDirectory() as scratch:
        return _run_checkov(without_moved_blocks(stack_dir, Path(scratch)))


def _run_checkov(stack_dir: Path) -> tuple[list[tuple[str, str, str]], int]:
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(stack_dir), "--framework", "terraform_json", "-o", "json", "--quiet",
         "--skip-download", "--config-file", str(CONFIG)],
        capture_output=True, text=True, timeout=600, cwd=stack_dir, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    try:
        parsed: Any = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"checkov produced no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}") from exc
    reports = parsed if isinstance(parsed, list) else [parsed]
    failed = [
        (c["check_id"], c["resource"], c["check_name"])
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    return failed, passed
