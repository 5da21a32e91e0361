"""`platformctl state ...`: list, show, compare and restore Terraform state versions.

The only module of the state tools that prints; the library modules log and raise typed
errors, which are turned into one `error: ...` line and an exit code here:
0 ok, 1 operation refused or failed, 2 usage or configuration error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

import click

from app.contracts.exitcodes import exit_code_for
from scripts.runtime.cliexit import UsageExitGroup
from scripts.state import diff as state_diff
from scripts.state import restore as state_restore
from scripts.state.errors import FAILURE_EXIT, LockHeld, RestoreRefused, StateToolError
from scripts.state.sensitive import mask_state
from scripts.state.store import (
    StateLocation,
    StateStore,
    StateVersion,
    locate,
    resolve_environment,
)

F = TypeVar("F", bound=Callable[..., Any])
CURRENT = "current"


def _reports_errors(func: F) -> F:
    """Turn expected failures into one clear line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (StateToolError, LockHeld) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(exit_code_for(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _open(env_name: str, stack: str) -> tuple[StateStore, StateLocation]:
    env = resolve_environment(env_name)
    return StateStore.for_environment(env), locate(env, stack)


def _resolve_version(store: StateStore, location: StateLocation, version_id: str) -> StateVersion:
    """A version by id; `current` names the current version (the first one listed)."""
    versions = store.list_versions(location)
    if version_id == CURRENT:
        if not versions[0].is_latest:
            raise RestoreRefused(
                f"{location.stack} has no current state object (it was deleted); name a version id"
            )
        return versions[0]
    return store.find_version(location, version_id, versions)


def _when(version: StateVersion) -> str:
    return version.last_modified.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


env_option = click.option(
    "--env", "-e", "env_name", required=True, metavar="ENV",
    help="Environment whose state bucket holds the stack (app/environments/ENV.toml).",
)


@click.group("state", cls=UsageExitGroup)
def state_group() -> None:
    """Inspect and recover Terraform state kept in the versioned S3 state bucket.

    Every apply leaves the previous state as an older S3 object version. List them with
    `versions`, look at one with `show`, compare two with `diff`, and make an older one
    current again with `restore` (nothing is ever deleted). Secret values are masked.
    """


@state_group.command("versions")
@click.argument("stack")
@env_option
@click.option("--limit", default=50, show_default=True, help="Newest versions to show (0 = all).")
@_reports_errors
def versions_cmd(stack: str, env_name: str, limit: int) -> None:
    """List the stored versions of STACK's state, newest first.

    STACK is `<env>-<concern>`, e.g. `local-network`.
    """
    store, location = _open(env_name, stack)
    rows = store.describe_versions(location, limit or None)
    click.echo(f"{location.url}")
    header = ("VERSION ID", "LAST MODIFIED", "SIZE", "SERIAL", "LINEAGE", "")
    table = [header]
    for version, state in rows:
        table.append(
            (
                version.version_id,
                _when(version),
                str(version.size),
                str(state.serial) if state else "?",
                state.lineage if state else "(not a state document)",
                "current" if version.is_latest else "",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@state_group.command("show")
@click.argument("stack")
@env_option
@click.option("--version", "version_id", default=CURRENT, show_default=True, metavar="V",
              help="Version id to show, or 'current'.")
@click.option("--raw", is_flag=True,
              help="Print the stored bytes unchanged (UNMASKED: contains secrets; redirect to a file).")
@_reports_errors
def show_cmd(stack: str, env_name: str, version_id: str, raw: bool) -> None:
    """Print one version of STACK's state as JSON, with sensitive values masked."""
    store, location = _open(env_name, stack)
    version = _resolve_version(store, location, version_id)
    if raw:
        click.echo("warning: --raw output is unmasked and contains the state's secrets", err=True)
        click.echo(store.read_bytes(location, version.version_id), nl=False)
        return
    state = store.read_state(location, version.version_id)
    click.echo(json.dumps(mask_state(state.document), indent=2))


@state_group.command("diff")
@click.argument("stack")
@click.argument("old_version", metavar="V1")
@click.argument("new_version", metavar="V2")
@env_option
@_reports_errors
def diff_cmd(stack: str, old_version: str, new_version: str, env_name: str) -> None:
    """Show what changed in STACK's state from version V1 to version V2.

    Either version may be 'current'. Sensitive attributes are listed by name only.
    """
    store, location = _open(env_name, stack)
    v1 = _resolve_version(store, location, old_version)
    v2 = _resolve_version(store, location, new_version)
    old_state = store.read_state(location, v1.version_id)
    new_state = store.read_state(location, v2.version_id)
    click.echo(
        f"{stack}: version {v1.version_id} (serial {old_state.serial}) -> "
        f"version {v2.version_id} (serial {new_state.serial})"
    )
    _echo_diff(state_diff.diff_states(old_state, new_state))


def _echo_diff(result: state_diff.StateDiff, indent: str = "  ") -> None:
    if not result.same_lineage:
        click.echo(f"{indent}note: the two versions have different lineages (different state histories)")
    if result.empty:
        click.echo(f"{indent}no differences in resources or outputs")
        return
    for address in result.added:
        click.echo(f"{indent}+ {address}")
    for address in result.removed:
        click.echo(f"{indent}- {address}")
    for change in result.changed:
        click.echo(f"{indent}~ {change.address}")
        for attr in change.attributes:
            if attr.sensitive:
                click.echo(f"{indent}    {attr.name}: (sensitive value changed)")
            else:
                click.echo(f"{indent}    {attr.name}: {attr.old} -> {attr.new}")
    for label, names in (
        ("outputs added", result.outputs_added),
        ("outputs removed", result.outputs_removed),
        ("outputs changed", result.outputs_changed),
    ):
        if names:
            click.echo(f"{indent}{label}: {', '.join(names)}")
    click.echo(
        f"{indent}{len(result.added)} added, {len(result.removed)} removed, {len(result.changed)} changed"
    )


@state_group.command("restore")
@click.argument("stack")
@env_option
@click.option("--version", "version_id", required=True, metavar="V", help="Version id to make current again.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force-lineage", is_flag=True,
              help="Restore even though the version belongs to another lineage (state history).")
@_reports_errors
def restore_cmd(stack: str, env_name: str, version_id: str, yes: bool, force_lineage: bool) -> None:
    """Make version V of STACK's state current again by writing it as a new version.

    Refused while the stack is locked (a Terraform run is in progress). The restored copy gets
    serial current+1 so Terraform accepts it; no version is deleted, so a restore can itself
    be undone by restoring the version that was current before.
    """
    env = resolve_environment(env_name)
    store, location = StateStore.for_environment(env), locate(env, stack)
    dynamo = state_restore.lock_table_for(env)
    plan = state_restore.plan_restore(store, location, version_id, force_lineage, dynamo)
    if plan.already_current:
        click.echo(f"{stack}: version {version_id} is already the current state; nothing to do")
        return
    click.echo(f"Restore {stack} ({location.url})")
    click.echo(
        f"  from version {plan.source.version_id} (serial {plan.source_state.serial}, "
        f"written {_when(plan.source)})"
    )
    if plan.current is not None and plan.current_state is not None:
        current = f"{plan.current.version_id} (serial {plan.current_state.serial})"
        click.echo(f"  current version {current} is kept")
        click.echo("  the restore changes the current state like this:")
        _echo_diff(state_diff.diff_states(plan.current_state, plan.source_state), indent="    ")
    else:
        click.echo("  the state object is currently deleted (latest version is a delete marker)")
    if plan.lineage_differs:
        lineage = plan.source_state.lineage
        click.echo(f"  warning: lineage differs; writing lineage {lineage} (--force-lineage)")
    click.echo(f"  the new version gets serial {plan.new_serial}")
    if not yes and not click.confirm("Write it as the new current state?", default=False):
        click.echo("restore cancelled; nothing was written", err=True)
        raise SystemExit(FAILURE_EXIT)
    result = state_restore.execute_restore(store, plan, dynamo)
    previous = (
        f"{result.previous_version} (serial {result.previous_serial})" if result.previous_version else "none"
    )
    click.echo(
        f"Restored {stack}: version {result.restored_from} (serial {result.source_serial}) is current again "
        f"as new version {result.new_version} (serial {result.new_serial}); previous current version "
        f"{previous} is kept."
    )
    click.echo("Next: plan the stack to see what Terraform would change to match the configuration.")
