"""platformctl commands of the foundation: doctor, local target, validate, deploy, diff, state bootstrap."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.config import ConfigError, load_all, load_environment
from app.contracts import exitcodes
from app.contracts.names import (
    DEFAULT_LOCAL_AWS_PORT,
    DEFAULT_LOCAL_PG_PORT,
    DEFAULT_LOCAL_VAULT_PORT,
    LOCAL_VAULT_PORT_ENV,
)
from app.schema import EnvironmentConfig
from scripts.runtime.cliexit import UsageExitGroup

EXIT_FAILED = exitcodes.FAILED
EXIT_USAGE = exitcodes.USAGE


def load_env_or_exit(name: str) -> EnvironmentConfig:
    try:
        return load_environment(name)
    except ConfigError as exc:
        click.echo(f"configuration error (nothing was changed):\n{exc}", err=True)
        sys.exit(EXIT_USAGE)


@click.command()
@click.option("--env", "env_name", default=None, help="Also check what deploying ENV needs (e.g. local).")
def doctor(env_name: str | None) -> None:
    """Check Python, Node, Terraform >= 1.10, cdktf-cli, the provider and AWS access; print fixes."""
    from scripts.doctor import failed, run_checks

    results = run_checks(env_name)
    for c in results:
        mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
        click.echo(f"[{mark}] {c.name:<13} {c.detail}")
        if not c.ok and c.fix:
            click.echo(f"       fix: {c.fix}")
    problems = failed(results)
    if problems:
        click.echo(f"\n{len(problems)} problem(s) found.", err=True)
        sys.exit(EXIT_FAILED)
    click.echo("\nall required checks passed.")


@click.command()
def validate() -> None:
    """Validate every environment file (no AWS, no Terraform); one line per problem."""
    try:
        envs = load_all()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    click.echo("valid: " + ", ".join(e.name for e in envs))


@click.group(cls=UsageExitGroup)
def local() -> None:
    """The local target: AWS emulator (moto), throwaway PostgreSQL and OpenBao on loopback."""


@local.command()
@click.option(
    "--aws-port",
    default=DEFAULT_LOCAL_AWS_PORT,
    show_default=True,
    envvar="PLATFORM_LOCAL_AWS_PORT",
    show_envvar=True,
    help="Port of the AWS emulator.",
)
@click.option(
    "--pg-port",
    default=DEFAULT_LOCAL_PG_PORT,
    show_default=True,
    envvar="PLATFORM_LOCAL_PG_PORT",
    show_envvar=True,
    help="Port of PostgreSQL.",
)
@click.option(
    "--vault-port",
    default=DEFAULT_LOCAL_VAULT_PORT,
    show_default=True,
    envvar=LOCAL_VAULT_PORT_ENV,
    show_envvar=True,
    help="Port of OpenBao's API (the next port is its cluster port).",
)
def up(aws_port: int, pg_port: int, vault_port: int) -> None:
    """Start the local target in the background (idempotent): emulator, PostgreSQL, OpenBao.

    OpenBao keeps its data under the local home; the first `up` initialises it (unseal key and root
    token in a 0600 file, never printed), every `up` unseals it.
    """
    from scripts.localtarget import target
    from scripts.localtarget.openbao import OpenBaoNotInstalled

    try:
        _, done = target.up(aws_port, pg_port, vault_port)
    except (RuntimeError, TimeoutError, OpenBaoNotInstalled) as exc:
        click.echo(f"local target did not start: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    for line in done:
        click.echo(line)
    click.echo('point your shell at it with: eval "$(platformctl local env)"')


@local.command()
def down() -> None:
    """Stop what `local up` started (and nothing else). Data is kept for the next `up`."""
    from scripts.localtarget import target

    for line in target.down():
        click.echo(line)


@local.command()
def status() -> None:
    """Show whether the emulator, PostgreSQL and OpenBao are running, and where."""
    from scripts.localtarget import target

    state = target.load()
    aws = f"running at {state.aws_endpoint} (pid {state.aws_pid})" if state.aws_running() else "stopped"
    pg = f"running on 127.0.0.1:{state.pg_port}" if state.pg_running() else "stopped"
    vault = "stopped"
    if state.vault_running():
        vault = f"running at {state.vault_address} (pid {state.vault_pid}), unsealed"
    click.echo(f"aws emulator: {aws}\npostgres:     {pg}\nopenbao:      {vault}")
    if not (state.aws_running() and state.pg_running() and state.vault_running()):
        sys.exit(EXIT_FAILED)


@local.command("env")
def env_cmd() -> None:
    """Print shell exports for the local target: eval "$(platformctl local env)"."""
    from scripts.localtarget import target

    state = target.load()
    if not state.aws_running():
        click.echo("the local target is not running; start it with `platformctl local up`", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(target.render_exports(target.shell_exports(state)))


@click.command("bootstrap")
@click.option("--env", "env_name", required=True, help="Environment whose state bucket to bootstrap.")
@click.option("--adopt", is_flag=True, help="Take over an existing bucket of that name (imported, never recreated).")
def bootstrap_cmd(env_name: str, adopt: bool) -> None:
    """Create the state bucket with local state, then move the state stack's own state into it."""
    from scripts.bootstrap import BootstrapRefused, bootstrap
    from scripts.terraform import TerraformError

    env = load_env_or_exit(env_name)
    _prepare_target(env)
    try:
        report = bootstrap(env, adopt=adopt)
    except BootstrapRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except TerraformError as exc:
        click.echo(
            f"bootstrap stopped: {exc}\nRe-running `platformctl state bootstrap --env {env_name}` "
            "continues from where it stopped.",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    click.echo(report.summary())


def _prepare_target(env: EnvironmentConfig) -> None:
    if not env.aws.emulator:
        return
    from scripts.localtarget import target

    state = target.load()
    if not state.aws_running():
        click.echo("the local target is not running; start it with `platformctl local up`", err=True)
        sys.exit(EXIT_FAILED)
    target.apply_to_environ(state, env)


@click.command()
@click.option("--env", "env_name", required=True, help="Environment to deploy (its stacks are ENV-*).")
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (e.g. local-state); default ENV-*.")
@click.option("--skip-bootstrap", is_flag=True, help="Assume the state bucket exists.")
@click.option(
    "--output", "outdir", type=click.Path(path_type=Path), default=None, help="Synth directory (default cdktf.out)."
)
def deploy(env_name: str, stacks: tuple[str, ...], skip_bootstrap: bool, outdir: Path | None) -> None:
    """Validate, bootstrap the state bucket if needed, then `cdktf deploy 'ENV-*'`.

    Another deploy or CI apply of ENV (a held state lock) is refused first, before anything is
    applied. Exit codes: 0 deployed; 64 configuration error; 5 another run holds the state lock
    (the message names it) or another migration is running; a failed migration gate's own code
    (1 failed, 7 timed out, 128+N interrupted; see docs/migrations.md); 1 any other failure.
    """
    from scripts.bootstrap import BootstrapRefused, bootstrap
    from scripts.deploy import DeployError, cdktf_deploy, refuse_if_locked, summarize_outputs
    from scripts.terraform import TerraformError

    env = load_env_or_exit(env_name)
    _prepare_target(env)
    try:
        refuse_if_locked(env)
        if not skip_bootstrap:
            click.echo(bootstrap(env).summary())
        out = cdktf_deploy(env, list(stacks) or None, outdir)
    except DeployError as exc:
        # A failed migration gate keeps its own exit code (7 timeout, 5 already running ...).
        click.echo(f"deploy stopped: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (BootstrapRefused, TerraformError) as exc:
        click.echo(f"deploy stopped: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"\ndeployed {env_name}. Stack outputs ({out}):")
    for line in summarize_outputs(out):
        click.echo(f"  {line}")


@click.command()
@click.option("--env", "env_name", required=True, help="Environment to diff (only it is synthesized).")
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (e.g. dev-network); default all of ENV.")
@click.option(
    "--output", "outdir", type=click.Path(path_type=Path), default=None, help="Synth directory (default cdktf.out)."
)
def diff(env_name: str, stacks: tuple[str, ...], outdir: Path | None) -> None:
    """Synthesize ENV only, then `cdktf diff` (terraform plan) each of its stacks in deploy order."""
    from scripts.deploy import DeployError, cdktf_diff

    env = load_env_or_exit(env_name)
    _prepare_target(env)
    try:
        failed = cdktf_diff(env, list(stacks) or None, outdir)
    except DeployError as exc:
        click.echo(f"diff stopped: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if failed:
        click.echo(f"diff failed for {', '.join(failed)}; the output above names the cause", err=True)
        sys.exit(EXIT_FAILED)
