"""`platformctl ci …`: the pipeline stages. Each exits with the one exit-code table (`ci exit-codes`)."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from app.contracts import exitcodes as table
from scripts.ci import exitcodes
from scripts.ci.exitcodes import CiError
from scripts.runtime.cliexit import UsageExitGroup

if TYPE_CHECKING:
    from app.schema import EnvironmentConfig
    from scripts.ci.context import StageContext

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SYNTH = Path("cdktf.out")
_TTL = re.compile(r"^(\d+)([mhd])$")


def _use_local_target(env: EnvironmentConfig) -> None:
    """An environment on the emulator: the running local target's endpoint and gate variables."""
    import os

    from scripts.ci.exitcodes import ERROR
    from scripts.localtarget import target
    from stacks.target import LOCAL_ENDPOINT_ENV

    state = target.load()
    if state.aws_running():
        # The emulator endpoint, and where the local migration gate finds its login in the vault:
        # also when `eval "$(platformctl local env)"` already exported the endpoint, which says
        # nothing about the gate's variables.
        target.apply_to_environ(state, env)
    elif LOCAL_ENDPOINT_ENV not in os.environ:
        raise CiError(ERROR, "the local target is not running; start it with `platformctl local up` "
                             f"(or export {LOCAL_ENDPOINT_ENV} for an emulator of your own)")


def _context(env_name: str) -> StageContext:
    from scripts.ci.context import StageContext

    return StageContext.load(env_name, _use_local_target)


def _stage(fn: F) -> F:
    """Map every failure onto the exit-code contract; never a traceback for an expected failure."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            code = fn(*args, **kwargs)
        except CiError as exc:
            click.echo(str(exc), err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:  # AWS/OS errors: an error, named, with no secret material
            from botocore.exceptions import BotoCoreError, ClientError

            if not isinstance(exc, BotoCoreError | ClientError | OSError):
                raise
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(exitcodes.ERROR)
        sys.exit(code)

    return wrapper  # type: ignore[return-value]


def _ttl(value: str) -> timedelta:
    match = _TTL.match(value)
    if not match:
        raise click.BadParameter(f"{value!r}: use minutes, hours or days, e.g. 45m, 8h, 2d")
    n, unit = int(match.group(1)), match.group(2)
    if n == 0:
        raise click.BadParameter(f"{value!r}: a bundle needs a positive lifetime")
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


def _bundle_default(env_name: str, bundle: Path | None) -> Path:
    return bundle or Path("ci-bundle") / env_name


env_opt = click.option("--env", "env_name", required=True, help="Environment (its stacks are ENV-*).")
synth_opt = click.option("--synth-dir", type=click.Path(path_type=Path), default=DEFAULT_SYNTH, show_default=True,
                         help="Directory written by `ci synth`.")
bundle_opt = click.option("--bundle", "bundle_dir", type=click.Path(path_type=Path), default=None,
                          help="Plan bundle directory (default ci-bundle/ENV).")
lock_opt = click.option("--lock-timeout", default="0s", show_default=True,
                        help="Wait this long for the state lock held by another writer, then exit 5.")
stack_opt = click.option("--stack", "stacks", multiple=True, help="Only these stacks (default: every ENV-* stack).")


@click.group("ci", cls=UsageExitGroup)
def ci() -> None:
    """CI stages: synth → plan → policy → apply, and drift. Never prompts; see `ci exit-codes`."""


@ci.command("synth")
@env_opt
@synth_opt
@click.option("--allow-dirty", is_flag=True,
              help="Synthesize a working tree with uncommitted changes; their sha256 is recorded and checked later.")
@_stage
def synth_cmd(env_name: str, synth_dir: Path, allow_dirty: bool) -> int:
    """Synthesize ENV once (with provider lock files) into --synth-dir for the later stages."""
    from scripts.ci.synth import synth

    stacks = synth(env_name, synth_dir, allow_dirty)
    click.echo(f"synthesized {len(stacks)} stack(s) of {env_name}: {', '.join(s.name for s in stacks)}")
    return exitcodes.OK


@ci.command("plan")
@env_opt
@synth_opt
@bundle_opt
@stack_opt
@click.option("--ttl", default="8h", show_default=True, help="The bundle expires after this (45m, 8h, 2d).")
@lock_opt
@_stage
def plan_cmd(env_name: str, synth_dir: Path, bundle_dir: Path | None, stacks: tuple[str, ...], ttl: str,
             lock_timeout: str) -> int:
    """Plan every stack in dependency order into one encrypted bundle; exit 0 no changes, 2 changes."""
    from scripts.ci.plan import plan

    target = _bundle_default(env_name, bundle_dir)
    manifest, code = plan(_context(env_name), synth_dir, target, list(stacks) or None, _ttl(ttl),
                          lock_timeout)
    for s in manifest.stacks:
        click.echo(f"{s.name:<24} {s.status:<12} {'changes' if s.has_changes else 'no changes'} {s.reason}")
    click.echo(f"bundle {manifest.bundle_id} → {target} (summary: {target / 'summary.md'})")
    return code


@ci.command("policy")
@env_opt
@synth_opt
@bundle_opt
@click.option("--waivers", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Extra justified skips (default .checkov.<tier>.yaml when it exists).")
@click.option("--no-waivers", is_flag=True, help="Only .checkov.yaml, even where the tier has a waiver file.")
@_stage
def policy_cmd(env_name: str, synth_dir: Path, bundle_dir: Path | None, waivers: Path | None,
               no_waivers: bool) -> int:
    """Checkov on the bundle's plan JSON with .checkov.yaml; fail closed (exit 3); verdict signed into the bundle."""
    from scripts.ci.apply import run_policy
    from scripts.ci.policy import default_waivers

    ctx = _context(env_name)
    target = _bundle_default(env_name, bundle_dir)
    chosen = None if no_waivers else waivers or default_waivers(ctx.env.tier)
    result, code = run_policy(ctx, synth_dir, target, chosen)
    click.echo(f"policy: {result.passed} passed, {len(result.failed)} failed, {result.skipped} skipped")
    for problem in result.problems:
        click.echo(f"  {problem}", err=True)
    for f in result.failed:
        click.echo(f"  FAILED {f.check_id} {f.stack} {f.resource}: {f.name}", err=True)
    click.echo(f"report: {target / 'policy.md'}")
    return code


@ci.command("apply")
@env_opt
@synth_opt
@bundle_opt
@lock_opt
@_stage
def apply_cmd(env_name: str, synth_dir: Path, bundle_dir: Path | None, lock_timeout: str) -> int:
    """Apply exactly the bundle's final plans after re-checking every manifest field (exit 4 on any mismatch)."""
    from scripts.ci.apply import apply

    manifest, code = apply(_context(env_name), synth_dir, _bundle_default(env_name, bundle_dir), lock_timeout)
    applied = [s.name for s in manifest.to_apply()]
    click.echo(f"applied: {', '.join(applied) or 'nothing to apply'}")
    if manifest.remaining():
        click.echo("next wave: " + ", ".join(s.name for s in manifest.remaining())
                   + " — run `ci plan`, `ci policy` and `ci apply` again")
    return code


@ci.command("drift")
@env_opt
@synth_opt
@stack_opt
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where drift.md/drift.json go (default ci-drift/ENV).")
@_stage
def drift_cmd(env_name: str, synth_dir: Path, stacks: tuple[str, ...], out_dir: Path | None) -> int:
    """Scheduled check: plan every deployed stack without locking; exit 2 when anything differs."""
    from scripts.ci.drift import drift

    target = out_dir or Path("ci-drift") / env_name
    found, undeployed, code = drift(_context(env_name), synth_dir, target, list(stacks) or None)
    for sc in found:
        click.echo(f"{sc.stack:<24} {len(sc.changes)} change(s) to converge" if sc.has_changes
                   else f"{sc.stack:<24} in sync")
    for name in undeployed:
        click.echo(f"{name:<24} not deployed (no state)")
    click.echo(f"report: {target / 'drift.md'}")
    return code


@ci.command("exit-codes")
def exit_codes_cmd() -> None:
    """Print the rows of the one exit-code table a stage exits with (all: `platformctl exit-codes`)."""
    names = {c.code: c.name for c in table.TABLE}
    for code, meaning in exitcodes.CONTRACT:
        click.echo(f"{code:>4}  {names[code]:<13} {meaning}")
