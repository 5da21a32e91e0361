"""Click's side of the one exit-code table: its own usage errors exit USAGE (64), not click's 2.

In the table 2 means "changes present" (Terraform-compatible; ADR 0019), so a bad option must not
exit 2 from any command. The root group and every group a test may invoke on its own use this class.
"""

from __future__ import annotations

from typing import Any

import click

from app.contracts import exitcodes


class UsageExit(click.UsageError):
    exit_code = exitcodes.USAGE


class NoArgsExit(click.exceptions.NoArgsIsHelpError):
    """A group called without a command: its help, and exit USAGE."""

    exit_code = exitcodes.USAGE


def _usage(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, UsageExit | NoArgsExit):
        return exc
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return NoArgsExit(exc.ctx)
    return UsageExit(exc.format_message(), exc.ctx)


class UsageExitGroup(click.Group):
    """A click group whose usage errors (and those of every command below it) exit USAGE."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _usage(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _usage(exc) from exc
