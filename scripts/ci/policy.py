"""The fail-closed policy gate: checkov on every plan JSON of the bundle with `.checkov.yaml`.

Fails (exit 3) on any failed check, on zero checks evaluated (a broken run or an empty plan set
must not look like a pass), and on a skip in `.checkov.yaml` without a justifying comment.
Attributes known only after apply are listed in the report: checkov judges the known values only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.ci.exitcodes import ERROR, CiError
from scripts.workspace import PROJECT_ROOT

CONFIG = PROJECT_ROOT / ".checkov.yaml"
CHECKOV_ENV = "PLATFORM_CHECKOV"
_ITEM = re.compile(r"^\s*-\s*([A-Za-z0-9_]+)\s*(#.*)?$")


@dataclass(frozen=True)
class Failure:
    check_id: str
    name: str
    stack: str
    resource: str


@dataclass(frozen=True)
class PolicyResult:
    passed: int
    failed: list[Failure]
    skipped: int
    version: str
    problems: list[str] = field(default_factory=list)  # fail-closed reasons besides failed checks

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems


def checkov_path() -> str:
    explicit = os.environ.get(CHECKOV_ENV)
    candidates = [explicit] if explicit else [str(PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"), "checkov"]
    for candidate in candidates:
        found = shutil.which(candidate) if candidate else None
        if found:
            return found
    raise CiError(ERROR, "checkov not found (run `make setup`, or set PLATFORM_CHECKOV); the gate cannot pass")


def unjustified_skips(config_text: str) -> list[str]:
    """Skipped check ids under `skip-check:` without a comment directly above them (or on the line)."""
    missing: list[str] = []
    in_skips = False
    previous = ""
    for raw in config_text.splitlines():
        line = raw.rstrip()
        if re.match(r"^[A-Za-z_-]+:", line):
            in_skips = line.startswith("skip-check:")
        elif in_skips:
            item = _ITEM.match(line)
            if item and not item.group(2) and not previous.lstrip().startswith("#"):
                missing.append(item.group(1))
        if line.strip():
            previous = line
    return missing


def _stack_of(file_path: str) -> str:
    parts = Path(file_path).parts
    return parts[parts.index("stacks") + 1] if "stacks" in parts else file_path


def parse_report(stdout: str) -> tuple[int, list[Failure], int]:
    try:
        parsed: Any = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise CiError(ERROR, "checkov produced no JSON report; the policy gate cannot pass") from exc
    reports = parsed if isinstance(parsed, list) else [parsed]
    passed = skipped = 0
    failed: list[Failure] = []
    for report in reports:
        summary = report.get("summary", {})
        passed += int(summary.get("passed", 0))
        skipped += int(summary.get("skipped", 0))
        for c in report.get("results", {}).get("failed_checks", []):
            # Only ids and addresses: checkov's code blocks would carry plan values.
            stack = _stack_of(c.get("file_path", ""))
            failed.append(Failure(c["check_id"], c.get("check_name", ""), stack, c["resource"]))
    return passed, failed, skipped


def run_checkov(plan_files: list[Path], cwd: Path, config: Path = CONFIG) -> PolicyResult:
    skips = unjustified_skips(config.read_text())
    problems = [f"{config.name}: skip of {cid} has no justifying comment" for cid in skips]
    if not plan_files:
        return PolicyResult(0, [], 0, "-", [*problems, "no plan JSON to check: zero checks evaluated"])
    checkov = checkov_path()
    version = subprocess.run([checkov, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    args = [checkov, "--framework", "terraform_plan", "--config-file", str(config), "-o", "json", "--skip-download"]
    for f in plan_files:
        args += ["-f", str(f)]
    proc = subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"},
    )
    passed, failed, skipped = parse_report(proc.stdout)
    if passed + len(failed) == 0:
        problems.append("zero checks evaluated: checkov ran but judged nothing (fail closed)")
    return PolicyResult(passed, failed, skipped, version or "unknown", problems)
