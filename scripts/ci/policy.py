"""The fail-closed policy gate: checkov on every plan JSON of the bundle with `.checkov.yaml`.

Fails (exit 3) on any failed check, on zero checks evaluated (a broken run or an empty plan set
must not look like a pass), on a plan with AWS resources that checkov judged nothing in (checkov
silently drops a file it cannot parse and reports the others), and on a skip in `.checkov.yaml`
without a justifying comment. Attributes known only after apply are listed in the report: checkov
judges the known values only.

Moved resources (issue 11's `moved` blocks) are no problem here, unlike checkov's terraform_json
scan of the synthesized stacks: plan JSON has no top-level `moved` list; a move appears as
`previous_address` on the resource's change, which checkov reads like any other change.
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

from app.contracts.workspace import PROJECT_ROOT
from scripts.ci.exitcodes import ERROR, CiError

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


def read_skips(config_text: str) -> tuple[list[str], list[str]]:
    """(skipped check ids under `skip-check:`, those with no comment on the line or above their run of items)."""
    skips: list[str] = []
    missing: list[str] = []
    in_skips = False
    previous_justified = False
    for raw in config_text.splitlines():
        line = raw.rstrip()
        if re.match(r"^[A-Za-z_-]+:", line):
            in_skips = line.startswith("skip-check:")
        elif in_skips:
            item = _ITEM.match(line)
            if item:
                skips.append(item.group(1))
                # Justified: a comment on the line, or a comment block above this run of items.
                justified = bool(item.group(2)) or previous_justified
                if not justified:
                    missing.append(item.group(1))
                previous_justified = justified
            else:  # a comment starts a justification; a blank or other line ends one
                previous_justified = line.lstrip().startswith("#")
    return skips, missing


def default_waivers(tier: str) -> Path | None:
    """`.checkov.<tier>.yaml`: justified skips for what a tier relaxes on purpose (e.g. `local`)."""
    path = PROJECT_ROOT / f".checkov.{tier}.yaml"
    return path if path.is_file() else None


def _stack_of(file_path: str) -> str:
    parts = Path(file_path).parts
    return parts[parts.index("stacks") + 1] if "stacks" in parts else file_path


def _reports(stdout: str) -> list[Any]:
    try:
        parsed: Any = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise CiError(ERROR, "checkov produced no JSON report; the policy gate cannot pass") from exc
    return parsed if isinstance(parsed, list) else [parsed]


def parse_report(stdout: str) -> tuple[int, list[Failure], int]:
    passed = skipped = 0
    failed: list[Failure] = []
    for report in _reports(stdout):
        summary = report.get("summary", {})
        passed += int(summary.get("passed", 0))
        skipped += int(summary.get("skipped", 0))
        for c in report.get("results", {}).get("failed_checks", []):
            # Only ids and addresses: checkov's code blocks would carry plan values.
            stack = _stack_of(c.get("file_abs_path") or c.get("file_path", ""))
            failed.append(Failure(c["check_id"], c.get("check_name", ""), stack, c["resource"]))
    return passed, failed, skipped


def judged_files(stdout: str, cwd: Path) -> set[Path]:
    """The plan files at least one check (passed or failed) was evaluated on."""
    seen: set[Path] = set()
    for report in _reports(stdout):
        results = report.get("results", {})
        for c in [*results.get("passed_checks", []), *results.get("failed_checks", [])]:
            where = c.get("file_abs_path") or str(cwd / str(c.get("file_path", "")).lstrip("/"))
            seen.add(Path(where).resolve())
    return seen


def aws_resource_count(plan_file: Path) -> int | None:
    """Managed AWS resources in a plan's planned values (None: not a readable plan JSON)."""
    try:
        doc = json.loads(plan_file.read_bytes())
        modules = [doc.get("planned_values", {}).get("root_module", {})]
        count = 0
        while modules:
            module = modules.pop()
            modules += module.get("child_modules", [])
            count += sum(
                1
                for r in module.get("resources", [])
                if r.get("mode") == "managed" and str(r.get("type", "")).startswith("aws_")
            )
        return count
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def unjudged(plan_files: list[Path], judged: set[Path]) -> list[str]:
    """Fail-closed reasons for plan files checkov did not evaluate although they hold AWS resources."""
    problems = []
    for f in plan_files:
        count = aws_resource_count(f)
        if count is None:
            problems.append(f"{_stack_of(str(f))}: the plan JSON is unreadable; nothing in it was checked")
        elif count and f.resolve() not in judged:
            problems.append(
                f"{_stack_of(str(f))}: checkov judged none of the plan's {count} AWS resource(s) "
                "(it skips a file it cannot parse); fail closed"
            )
    return problems


def run_checkov(plan_files: list[Path], cwd: Path, waivers: Path | None = None, config: Path = CONFIG) -> PolicyResult:
    """Checkov's terraform_plan checks on PLAN_FILES, skipping what CONFIG and WAIVERS justify."""
    skips: list[str] = []
    problems: list[str] = []
    for source in [config, *([waivers] if waivers else [])]:
        found, missing = read_skips(source.read_text())
        skips += found
        problems += [f"{source.name}: skip of {cid} has no justifying comment" for cid in missing]
    if not plan_files:
        return PolicyResult(0, [], 0, "-", [*problems, "no plan JSON to check: zero checks evaluated"])
    checkov = checkov_path()
    version = subprocess.run([checkov, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    # Skips go on the command line (merged from both files); no config file, so nothing else sneaks in.
    args = [checkov, "--framework", "terraform_plan", "-o", "json", "--skip-download"]
    if skips:
        args += ["--skip-check", ",".join(sorted(set(skips)))]
    for f in plan_files:
        args += ["-f", str(f)]
    proc = subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"},
    )
    passed, failed, skipped = parse_report(proc.stdout)
    if passed + len(failed) == 0:
        problems.append("zero checks evaluated: checkov ran but judged nothing (fail closed)")
    else:
        problems += unjudged(plan_files, judged_files(proc.stdout, cwd))
    return PolicyResult(passed, failed, skipped, version or "unknown", problems)
