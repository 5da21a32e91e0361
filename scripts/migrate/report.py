"""The gate's outcome, handed from `platformctl migrate run` back to `platformctl deploy`.

Between the two sit cdktf and Terraform: Terraform turns any failing local-exec step into its
own exit code 1 and repeats the step's whole output inside its error message, and cdktf prints
that again. So the migration's exit code (3 timeout, 4 another migration running ...) never
reached the caller, and a traceback appeared four times.

`platformctl deploy` sets PLATFORM_MIGRATION_REPORT_DIR (inherited through cdktf and Terraform
by the local-exec step). With it set, the runner writes the migration's output to
`<dir>/<service>.log` instead of the terminal, prints a few progress lines, and leaves its
verdict in `<dir>/<service>.json`; the deploy then exits with that code and prints the reason,
the last log lines and the next step once, at the end. A CI stage can do the same.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scripts.migrate.excerpt import heading
from scripts.migrate.outcome import EXIT_OK, MigrationError, describe_exit_code

REPORT_DIR_ENV = "PLATFORM_MIGRATION_REPORT_DIR"


def report_dir() -> Path | None:
    value = os.environ.get(REPORT_DIR_ENV)
    return Path(value) if value else None


def _safe(service: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in service)


def _open_private(path: Path, flags: int) -> int:
    # Migration output may mention connection details: owner-only, like other local files.
    return os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW, 0o600)


class GateLog:
    """Appends the migration's output lines to `<dir>/<service>.log`."""

    def __init__(self, directory: Path, service: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{_safe(service)}.log"
        self._fd = _open_private(self.path, os.O_WRONLY | os.O_APPEND)

    def write(self, line: str) -> None:
        os.write(self._fd, (line + "\n").encode(errors="replace"))

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True)
class GateReport:
    service: str
    exit_code: int
    headline: str
    reason: str
    ref: str | None = None
    last_lines: list[str] = field(default_factory=list)
    next_step: str = ""
    log_file: str | None = None

    def render(self) -> str:
        """The one place a failed migration is described in full (deploy prints it once)."""
        parts = [f"{self.headline} (service {self.service}, exit {self.exit_code}): {self.reason}"]
        if self.ref:
            parts.append(f"  ({self.ref})")
        if self.last_lines:
            parts.append(heading(self.last_lines))
            parts.extend(f"  | {line}" for line in self.last_lines)
        if self.log_file:
            parts.append(f"full migration output: {self.log_file}")
        if self.next_step:
            parts.append(self.next_step)
        return "\n".join(parts)


def write_report(directory: Path, service: str, report: GateReport) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{_safe(service)}.json"
    tmp = path.with_suffix(".json.tmp")
    fd = _open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(report), handle)
    tmp.replace(path)
    return path


def report_for_error(service: str, err: MigrationError, next_step: str, log_file: Path | None) -> GateReport:
    return GateReport(
        service=service,
        exit_code=err.exit_code,
        headline=err.headline,
        reason=err.reason,
        ref=err.ref,
        last_lines=err.last_lines,
        next_step=next_step,
        log_file=str(log_file) if log_file else None,
    )


def report_for_success(service: str, summary: str, log_file: Path | None) -> GateReport:
    return GateReport(
        service, EXIT_OK, describe_exit_code(EXIT_OK), summary, log_file=str(log_file) if log_file else None
    )


def read_reports(directory: Path) -> list[GateReport]:
    """Every gate report in `directory`, oldest first (unreadable files are skipped)."""
    reports = []
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            reports.append(GateReport(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return reports


def failed_reports(directory: Path) -> list[GateReport]:
    return [r for r in read_reports(directory) if r.exit_code != EXIT_OK]
