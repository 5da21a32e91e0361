"""The one exit-code table of `platformctl` (ADR 0019): every code, its one meaning, who exits with it.

A contract-layer module: standard library only, importing nothing of the project, so the migration
gate's runner, the CI stages and an application image can all carry it. Commands import these
names; no command writes a bare number. `platformctl exit-codes` prints this table and
docs/exit-codes.md is generated from it (a unit test keeps the two equal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

OK = 0
FAILED = 1
# Deliberately Terraform's `plan -detailed-exitcode` value, so a pipeline written for Terraform
# reads `ci plan` the same way. That is why usage errors are not 2 here (see USAGE).
CHANGES = 2
POLICY = 3
STALE = 4
LOCKED = 5
LEASE_LOST = 6
TIMEOUT = 7
NOTHING_DUE = 8
STOPPED_SAFE = 9
# sysexits.h EX_USAGE: click's own usage errors (its default is 2) are remapped to it as well.
USAGE = 64
# 128 + the signal number, as a shell reports a process killed by it (130 SIGINT, 143 SIGTERM).
SIGNAL_BASE = 128


@dataclass(frozen=True)
class Code:
    code: int
    name: str
    meaning: str
    commands: tuple[str, ...]


TABLE: tuple[Code, ...] = (
    Code(OK, "ok", "success: done, nothing to change, policy passed, or already done (a rollback's migration)",
         ("every command",)),
    Code(FAILED, "failed", "the operation ran and failed (configuration found valid); the message says what and "
         "what next — a failed migration, a rolled-back rollout, a Terraform or AWS error, a refused restore",
         ("every command",)),
    Code(CHANGES, "changes", "changes present (Terraform-compatible, as `terraform plan -detailed-exitcode`): "
         "changes planned, drift found, or later waves still to plan and apply",
         ("ci plan", "ci drift", "ci apply", "vault bootstrap --check")),
    Code(POLICY, "policy", "policy violation, zero checks evaluated, an unjustified skip, or no policy verdict",
         ("ci policy", "ci apply")),
    Code(STALE, "stale", "stale, tampered, forged, expired, foreign or already-applied bundle; nothing was applied",
         ("ci apply",)),
    Code(LOCKED, "locked", "another writer holds the lock (state lock, rotation lease, a migration of the "
         "service running, or the job's previous run still going); nothing was changed — retry later",
         ("ci plan", "ci apply", "ci drift", "state restore", "secrets rotate", "migrate run", "deploy", "job run",
          "job exec")),
    Code(LEASE_LOST, "lease-lost", "this run's rotation lease was taken over; it stopped at a safe point — "
         "run --status", ("secrets rotate",)),
    Code(TIMEOUT, "timeout", "timed out: the migration or the job's run was stopped, or the rollout was still in "
         "progress", ("migrate run", "migrate verify-rollout", "deploy", "ci apply", "job run", "job exec")),
    Code(NOTHING_DUE, "nothing-due", "nothing was due (or nothing to resume or abort); nothing was changed",
         ("secrets rotate",)),
    Code(STOPPED_SAFE, "stopped-safe", "rotation stopped safely: the credentials tasks use still log in; "
         "fix the cause, then --resume or --abort", ("secrets rotate",)),
    Code(USAGE, "usage", "usage or configuration error (bad arguments, invalid environment file, unknown stack "
         "or version); nothing was started", ("every command",)),
)

# 128+n is a range, not one code: documented with the table, checked apart from it.
SIGNAL_MEANING = ("interrupted by signal N (exit 128+N: 130 SIGINT, 143 SIGTERM); the migration was stopped "
                  "(a job's command killed by signal N exits the same way)")
SIGNAL_COMMANDS = ("migrate run", "deploy", "job run", "job exec")

MEANINGS = {c.code: c.meaning for c in TABLE}


def is_declared(code: int) -> bool:
    return code in MEANINGS or SIGNAL_BASE < code < SIGNAL_BASE + 65


def exit_code_for(exc: BaseException) -> int:
    """The one error-to-exit mapping: an error carries its table code as `exit_code`; anything
    else (and a code the table does not declare) is FAILED."""
    code = getattr(exc, "exit_code", FAILED)
    return code if isinstance(code, int) and is_declared(code) else FAILED


class LockHeld(Exception):
    """Another writer holds the lock (state lock, rotation lease, running migration): exit LOCKED."""

    exit_code = LOCKED


def render_text() -> str:
    lines = [f"{c.code:>4}  {c.name:<13} {c.meaning}" for c in TABLE]
    lines.append(f"{'128+':>4}  {'signal':<13} {SIGNAL_MEANING}")
    return "\n".join(lines) + "\n"


def render_json() -> str:
    rows = [{"code": c.code, "name": c.name, "meaning": c.meaning, "commands": list(c.commands)} for c in TABLE]
    rows.append({"code": f"{SIGNAL_BASE}+N", "name": "signal", "meaning": SIGNAL_MEANING,
                 "commands": list(SIGNAL_COMMANDS)})
    return json.dumps(rows, indent=2) + "\n"


def _commands_md(commands: tuple[str, ...]) -> str:
    return ", ".join(x if x == "every command" else f"`{x}`" for x in commands)


def render_markdown() -> str:
    """docs/exit-codes.md, generated: `platformctl exit-codes --markdown > docs/exit-codes.md`."""
    head = [
        "# Exit codes",
        "",
        "<!-- Generated from app/contracts/exitcodes.py by `platformctl exit-codes --markdown`; "
        "tests/unit/app/contracts/test_exitcodes.py fails when this file differs. Do not edit by hand. -->",
        "",
        "Every `platformctl` command exits with a code from this one table; each number means one thing",
        "across all commands (decision: docs/adr/0019-one-exit-code-table.md). Print it with",
        "`platformctl exit-codes` (`--json` for scripts).",
        "",
        "`2` is deliberately Terraform's `plan -detailed-exitcode` value (changes present), so a pipeline",
        "written for Terraform reads `ci plan` the same way. Usage errors are therefore `64`",
        "(sysexits `EX_USAGE`), including click's own (unknown option, missing argument).",
        "",
        "| exit | name | meaning | commands |",
        "|---:|---|---|---|",
    ]
    rows = [f"| {c.code} | {c.name} | {c.meaning} | {_commands_md(c.commands)} |" for c in TABLE]
    rows.append(f"| 128+N | signal | {SIGNAL_MEANING} | {_commands_md(SIGNAL_COMMANDS)} |")
    return "\n".join(head + rows) + "\n"
