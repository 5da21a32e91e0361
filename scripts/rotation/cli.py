"""`platformctl secrets rotate` and `platformctl secrets rotate-master` (joined to the `secrets` group).

The vault token comes only from VAULT_TOKEN (never argv, where `ps` shows it). Exit codes are the
scheduling contract: 0 rotated (or aborted cleanly), 1 failed, 2 usage, 3 nothing due,
4 stopped with the old credentials still valid (--resume later), 5 another rotation holds the lease,
6 this run lost its lease (taken over after it expired) and stopped at a safe point.
"""

from __future__ import annotations

import logging
import os
import re
import sys

import click

from app.config import ConfigError, load_environment
from app.contracts.names import ENV_VAULT_ADDR, ENV_VAULT_TOKEN, internal_kv_mount
from scripts import awsclients
from scripts.rotation import operations
from scripts.rotation.adapter import ADMIN_KV_PATH, ADMIN_WORKLOAD, TargetError, build_target, workload_names
from scripts.rotation.admin import admin_connector
from scripts.rotation.ecs import EcsRestarter
from scripts.rotation.engine import Rotator
from scripts.rotation.model import ExitCode
from scripts.runtime.vault_client import VaultError, build_client
from scripts.vault.kvstore import KvStore

log = logging.getLogger(__name__)
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# The worst outcome decides the exit code of a multi-workload run.
SEVERITY = [
    ExitCode.FAILED,
    ExitCode.USAGE,
    ExitCode.LEASE_LOST,
    ExitCode.LOCKED,
    ExitCode.STOPPED_OLD_VALID,
    ExitCode.ROTATED,
    ExitCode.NOTHING_DUE,
]


def parse_duration(value: str) -> float:
    m = DURATION.match(value.strip())
    if not m:
        raise click.BadParameter(f"expected a number with s/m/h/d, e.g. 30d, got {value!r}")
    return float(m.group(1)) * SECONDS[m.group(2)]


def _kv(address: str, mount: str, ca_bundle: str | None) -> KvStore:
    token = os.environ.get(ENV_VAULT_TOKEN, "")
    if not token:
        raise click.UsageError(
            "set VAULT_TOKEN (a token allowed to read/write the workload logins on the KV mount and "
            "rotation/, migration/ and admin/ on its `-internal` mount)"
        )
    return KvStore(build_client(address, token, ca_bundle=ca_bundle), mount)


@click.command("rotate")
@click.option("--env", "env_name", required=True, help="Environment (app/environments/<env>.toml).")
@click.option(
    "--workload",
    "workloads",
    multiple=True,
    help=f"Workload to rotate (repeatable); {ADMIN_WORKLOAD!r}: the vault's DB admin.",
)
@click.option(
    "--all", "all_", is_flag=True, help="Every workload of the environment (and the admin with --master-secret-arn)."
)
@click.option(
    "--status",
    "mode",
    flag_value="status",
    help="Show each journal, the lease (naming a dead holder) and what the KV and database say now.",
)
@click.option(
    "--resume", "mode", flag_value="resume", help="Continue an unfinished rotation from where the database really is."
)
@click.option("--abort", "mode", flag_value="abort", help="Stop an unfinished rotation, leaving working credentials.")
@click.option("--vault-addr", envvar=ENV_VAULT_ADDR, help="Vault address; default: vault.address of the environment.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False), help="CA bundle for Vault's TLS.")
@click.option("--master-secret-arn", help="RDS master secret ARN (needed to rotate the vault-admin login only).")
@click.option(
    "--min-age",
    default="0",
    show_default=True,
    help="Rotate only if the last rotation is older (e.g. 30d); else exit 8.",
)
@click.option(
    "--grace",
    default="5m",
    show_default=True,
    help="How long the old slot's sessions may drain before they are terminated.",
)
@click.option("--rollout-timeout", default="30m", show_default=True, help="Longest wait for one service's deployment.")
@click.option("--poll", default="5s", show_default=True, help="Interval between ECS/pg_stat_activity checks.")
@click.option(
    "--lock-ttl",
    default="2m",
    show_default=True,
    help="Lease expiry; a heartbeat renews it every third of it while the run lives. A crashed run's "
    "lease is taken over only after it expired.",
)
@click.option(
    "--wait-lock",
    default="0",
    show_default=True,
    help="Wait this long for a held lease to be released or to expire (e.g. after a crash) before exit 5.",
)
@click.option("--db-sslmode", default="prefer", show_default=True, help="libpq sslmode (RDS: verify-full with its CA).")
def rotate(
    env_name: str,
    workloads: tuple[str, ...],
    all_: bool,
    mode: str | None,
    vault_addr: str | None,
    ca_bundle: str | None,
    master_secret_arn: str | None,
    min_age: str,
    grace: str,
    rollout_timeout: str,
    poll: str,
    lock_ttl: str,
    wait_lock: str,
    db_sslmode: str,
) -> None:
    """Rotate database credentials without downtime: two login slots per credential, a journal in
    the vault KV (resumable after a crash at any step), a rolling restart of every ECS service that
    reads the secret, and the old slot retired only after the rollout and a drain."""
    if bool(workloads) == all_:
        raise click.UsageError("pass --workload NAME (repeatable) or --all")
    try:
        env = load_environment(env_name)
    except ConfigError as exc:
        click.echo(f"configuration error (nothing was changed):\n{exc}", err=True)
        sys.exit(ExitCode.USAGE)
    address = vault_addr or env.vault.address
    if not address:
        raise click.UsageError("no Vault address: pass --vault-addr or set VAULT_ADDR")
    if parse_duration(lock_ttl) < 1:
        raise click.BadParameter(
            "at least 1s (the heartbeat renews the lease every third of it)", param_hint="--lock-ttl"
        )
    names = list(workloads) or ([ADMIN_WORKLOAD] if master_secret_arn else []) + workload_names(env)
    codes: list[ExitCode] = []
    try:
        kv = _kv(address, env.vault.kv_mount, ca_bundle)
        sm = awsclients.client("secretsmanager", env) if master_secret_arn else None
        restarter = EcsRestarter(
            awsclients.client("ecs", env), poll=parse_duration(poll), timeout=parse_duration(rollout_timeout)
        )
        # Every target first: a workload the vault cannot serve stops the run before any rotation.
        targets = [build_target(env, kv, name, master_secret_arn, db_sslmode) for name in names]
        for target in targets:
            rotator = Rotator(target, kv, admin_connector(target, kv, sm), restarter, parse_duration(grace))
            if mode == "status":
                click.echo(operations.status(rotator))
                continue
            ttl, wait = parse_duration(lock_ttl), parse_duration(wait_lock)
            if mode == "abort":
                outcome = operations.abort(rotator, lock_ttl=ttl, wait_lock=wait)
            else:
                outcome = operations.rotate(
                    rotator, resume=mode == "resume", min_age=parse_duration(min_age), lock_ttl=ttl, wait_lock=wait
                )
            click.echo(outcome.message)
            codes.append(outcome.code)
    except TargetError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    except VaultError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.FAILED)
    if codes:
        sys.exit(min(codes, key=SEVERITY.index))


@click.command("rotate-master")
@click.option("--env", "env_name", required=True, help="Environment.")
@click.option("--master-secret-arn", required=True, help="Secrets Manager ARN of the RDS-managed master secret.")
@click.option("--vault-addr", envvar=ENV_VAULT_ADDR, help="Vault address; default: vault.address of the environment.")
@click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--timeout", default="10m", show_default=True, help="Longest wait for RDS to finish.")
@click.option("--db-sslmode", default="prefer", show_default=True)
def rotate_master(
    env_name: str, master_secret_arn: str, vault_addr: str | None, ca_bundle: str | None, timeout: str, db_sslmode: str
) -> None:
    """Rotate the RDS-managed master secret now and verify the new one and the vault admin login."""
    from scripts.rotation.adapter import admin_login, database_of
    from scripts.rotation.master import MasterRotationError
    from scripts.rotation.master import rotate_master as run

    try:
        env = load_environment(env_name)
        # The admin login lives on the internal mount (ADR 0017).
        kv = _kv(vault_addr or env.vault.address or "", internal_kv_mount(env.vault.kv_mount), ca_bundle)
        db = database_of(kv, admin_login(), db_sslmode)
        report = run(
            awsclients.client("secretsmanager", env),
            master_secret_arn,
            db,
            kv,
            ADMIN_KV_PATH,
            timeout=parse_duration(timeout),
        )
    except (ConfigError, TargetError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    except (MasterRotationError, VaultError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.FAILED)
    click.echo(
        f"master secret rotated ({report.old_version} -> {report.new_version}); the new one logs in; "
        f"the vault admin {report.admin_user} still logs in"
    )
