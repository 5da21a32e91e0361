"""The migration gate's command lines, declared once (issue 19).

The service stack synthesizes `platformctl migrate run …` (the gate) and `platformctl migrate
verify-rollout …` (the rollout check) into local-exec steps; `scripts/migrate/cli.py` declares its
click options from the same tables, so a renamed option cannot leave the synthesized gate calling
a flag the CLI no longer has (tests/unit/migrate/test_gate_argv.py parses one with the other).
Standard library only, like the rest of the contract layer.
"""

from __future__ import annotations

from collections.abc import Mapping

PLATFORMCTL = "platformctl"  # on PATH of the process running Terraform (`platformctl deploy` puts it there)
MIGRATE = "migrate"
RUN = "run"
VERIFY_ROLLOUT = "verify-rollout"

# Defaults of the two waits; the environment file's `migration.timeout_seconds` overrides the first.
DEFAULT_MIGRATION_TIMEOUT_S = 1800
DEFAULT_ROLLOUT_TIMEOUT_S = 900

# click parameter name -> flag, in the order the stack writes them (the synthesized JSON depends
# on it). A value of True is written as a bare flag.
RUN_OPTIONS: Mapping[str, str] = {
    "environment": "--environment",
    "service": "--service",
    "local": "--local",
    "cwd": "--cwd",
    "region": "--region",
    "cluster": "--cluster",
    "task_definition": "--task-definition",
    "container": "--container",
    "subnets": "--subnets",
    "security_groups": "--security-groups",
}
VERIFY_OPTIONS: Mapping[str, str] = {
    "region": "--region",
    "cluster": "--cluster",
    "service": "--service",
    "task_definition": "--task-definition",
    "timeout_s": "--timeout",
}


def option(options: Mapping[str, str], param: str) -> tuple[str, str]:
    """click.option declarations (flag, parameter name) of a declared gate option."""
    return options[param], param


def _argv(command: str, options: Mapping[str, str], values: Mapping[str, str | int | bool]) -> list[str]:
    unknown = sorted(set(values) - set(options))
    if unknown:
        raise ValueError(f"`{MIGRATE} {command}` declares no option {', '.join(unknown)}")
    argv = [PLATFORMCTL, MIGRATE, command]
    for param, flag in options.items():
        value = values.get(param)
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


def run_argv(**values: str | int | bool) -> list[str]:
    """argv of the gate: `platformctl migrate run` with the given options (click parameter names)."""
    return _argv(RUN, RUN_OPTIONS, values)


def verify_rollout_argv(**values: str | int | bool) -> list[str]:
    """argv of the rollout check: `platformctl migrate verify-rollout` with the given options."""
    return _argv(VERIFY_ROLLOUT, VERIFY_OPTIONS, values)
