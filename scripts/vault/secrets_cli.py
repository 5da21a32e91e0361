"""platformctl command group `secrets` (exec: exec_cli.py; rotate joins later) and the exit codes.

Exit codes (docs/exit-codes.md): 0 ok, 1 failure, 64 usage/configuration error. Secret values are never echoed.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from app.config import ConfigError
from app.contracts import exitcodes
from scripts.dblogins.connect import DatabaseError
from scripts.runtime.cliexit import UsageExitGroup
from scripts.runtime.exec_cli import exec_cmd
from scripts.runtime.vault_client import VaultError
from scripts.vault import outputs as outputs_mod
from scripts.vault.spec import SpecError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def errors_to_exit_codes(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, SpecError, outputs_mod.OutputsError) as exc:
            _fail(str(exc), exitcodes.USAGE)
        except (VaultError, DatabaseError) as exc:
            _fail(str(exc), exitcodes.FAILED)

    return wrapper  # type: ignore[return-value]


@click.group("secrets", cls=UsageExitGroup)
def secrets() -> None:
    """Read secrets from Vault for a workload."""


secrets.add_command(exec_cmd)
