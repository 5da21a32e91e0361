"""The local target's lifecycle: start, record, report and stop what *we* started.

Three servers on loopback: the AWS emulator, PostgreSQL and OpenBao (a real Vault-API server with
persistent storage under `.platform/local/openbao`, initialised once and unsealed on every `up`).

Endpoints and process ids are recorded in `.platform/local/target.json`; `down` stops only
processes recorded there (and only if they still look like ours), never anything else.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.contracts import names as contracts
from app.contracts.workspace import platform_home
from scripts.localtarget import emulator, openbao, postgres
from scripts.localtarget.procs import pid_alive, port_open, terminate

if TYPE_CHECKING:
    from app.schema import EnvironmentConfig

log = logging.getLogger(__name__)

DEFAULT_AWS_PORT = contracts.DEFAULT_LOCAL_AWS_PORT
DEFAULT_PG_PORT = contracts.DEFAULT_LOCAL_PG_PORT
DEFAULT_VAULT_PORT = contracts.DEFAULT_LOCAL_VAULT_PORT
LOCAL_DB_NAME = "app"


def target_dir() -> Path:
    path = platform_home() / "local"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file() -> Path:
    return target_dir() / "target.json"


@dataclass
class TargetState:
    aws_pid: int | None = None
    aws_port: int | None = None
    aws_log: str | None = None
    pg_data_dir: str | None = None
    pg_port: int | None = None
    vault_pid: int | None = None
    vault_port: int | None = None
    vault_dir: str | None = None

    @property
    def aws_endpoint(self) -> str | None:
        return f"http://127.0.0.1:{self.aws_port}" if self.aws_port else None

    def aws_running(self) -> bool:
        return bool(
            self.aws_pid and pid_alive(self.aws_pid) and self.aws_endpoint and emulator.healthy(self.aws_endpoint)
        )

    def pg_running(self) -> bool:
        if not (self.pg_data_dir and self.pg_port):
            return False
        return (Path(self.pg_data_dir) / "postmaster.pid").exists() and port_open(self.pg_port)

    @property
    def vault_address(self) -> str | None:
        return f"http://127.0.0.1:{self.vault_port}" if self.vault_port else None

    def vault_running(self) -> bool:
        """Our process answers, initialised and unsealed."""
        if not (self.vault_pid and self.vault_address and pid_alive(self.vault_pid)):
            return False
        status = openbao.seal_status(self.vault_address)
        return bool(status and status.get("initialized") and not status.get("sealed", True))

    def vault_root_token(self) -> str:
        """The local OpenBao's root token, from its 0600 init file (never printed by platformctl)."""
        if not self.vault_dir:
            raise RuntimeError("the local OpenBao was never started; run `platformctl local up`")
        return str(openbao.read_init(Path(self.vault_dir))["root_token"])

    def pg_password(self) -> str:
        assert self.pg_data_dir
        data_dir = Path(self.pg_data_dir)
        return (data_dir.parent / f"{data_dir.name}.pw").read_text().strip()

    def database_url(self, dbname: str = LOCAL_DB_NAME) -> str:
        """libpq URL for the local Postgres (contains the throwaway superuser password)."""
        return f"postgresql://{postgres.SUPERUSER}:{self.pg_password()}@127.0.0.1:{self.pg_port}/{dbname}"


def load() -> TargetState:
    path = state_file()
    if not path.exists():
        return TargetState()
    return TargetState(**json.loads(path.read_text()))


def save(state: TargetState) -> None:
    path = state_file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)


def up(
    aws_port: int = DEFAULT_AWS_PORT, pg_port: int = DEFAULT_PG_PORT, vault_port: int = DEFAULT_VAULT_PORT
) -> tuple[TargetState, list[str]]:
    """Start whatever is not running yet; returns the state and what was done (for the user)."""
    state = load()
    done: list[str] = []
    if state.aws_running():
        done.append(f"AWS emulator already running at {state.aws_endpoint} (pid {state.aws_pid})")
    else:
        proc = emulator.start(aws_port, target_dir() / "moto.log")
        state.aws_pid, state.aws_port, state.aws_log = proc.pid, proc.port, proc.log_file
        save(state)
        done.append(f"started AWS emulator at {proc.endpoint} (pid {proc.pid})")
    if state.pg_running():
        done.append(f"PostgreSQL already running on 127.0.0.1:{state.pg_port}")
    else:
        data_dir = target_dir() / "pg"
        target_dir().chmod(0o755)  # the postgres OS user must reach its data dir
        platform_home().chmod(0o755)
        server = postgres.start(data_dir, pg_port)
        state.pg_data_dir, state.pg_port = server.data_dir, server.port
        save(state)
        _ensure_database(state)
        done.append(f"started PostgreSQL on 127.0.0.1:{server.port} (data in {server.data_dir})")
    _write_pgpass(state)
    done.append(_vault_up(state, vault_port))
    return state, done


def _vault_up(state: TargetState, port: int) -> str:
    if state.vault_running():
        return f"OpenBao already running at {state.vault_address} (pid {state.vault_pid})"
    directory = target_dir() / "openbao"
    if state.vault_pid and pid_alive(state.vault_pid) and state.vault_address and _looks_like_openbao(state.vault_pid):
        openbao.ensure_ready(state.vault_address, directory)  # ours, but sealed (e.g. after a crash)
        return f"unsealed OpenBao at {state.vault_address} (pid {state.vault_pid})"
    fresh = not (directory / openbao.INIT_FILE).exists()
    server = openbao.start(directory, port, port + 1)
    state.vault_pid, state.vault_port, state.vault_dir = server.pid, server.port, server.directory
    save(state)
    what = "initialised and unsealed" if fresh else "unsealed (data kept)"
    return f"started OpenBao at {server.address} (pid {server.pid}), {what}; audit log {server.audit_log}"


def _ensure_database(state: TargetState) -> None:
    import psycopg

    dsn = state.database_url("postgres")
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (LOCAL_DB_NAME,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{LOCAL_DB_NAME}"')


def _write_pgpass(state: TargetState) -> Path:
    path = target_dir() / "pgpass"
    from scripts.localtarget.private_files import write_private

    return write_private(path, f"127.0.0.1:{state.pg_port}:*:{postgres.SUPERUSER}:{state.pg_password()}\n")


def down() -> list[str]:
    state = load()
    done: list[str] = []
    if state.aws_pid and pid_alive(state.aws_pid) and _looks_like_emulator(state.aws_pid):
        terminate(state.aws_pid)
        done.append(f"stopped AWS emulator (pid {state.aws_pid})")
    elif state.aws_pid:
        done.append("AWS emulator was not running")
    if state.pg_data_dir and (Path(state.pg_data_dir) / "postmaster.pid").exists():
        postgres.stop(Path(state.pg_data_dir))
        done.append("stopped PostgreSQL")
    elif state.pg_data_dir:
        done.append("PostgreSQL was not running")
    if state.vault_pid and pid_alive(state.vault_pid) and _looks_like_openbao(state.vault_pid):
        terminate(state.vault_pid)
        done.append(f"stopped OpenBao (pid {state.vault_pid}); its data stays in {state.vault_dir}")
    elif state.vault_pid:
        done.append("OpenBao was not running")
    if not done:
        done.append("nothing to stop: the local target was not started by platformctl")
    save(TargetState(pg_data_dir=state.pg_data_dir, pg_port=state.pg_port, vault_dir=state.vault_dir))
    return done


def _looks_like_openbao(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return True  # no /proc (macOS): trust the recorded pid
    return "bao" in cmdline and " server " in f" {cmdline} "


def _looks_like_emulator(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return True  # no /proc (macOS): trust the recorded pid
    return "moto.server" in cmdline


def shell_exports(state: TargetState) -> dict[str, str]:
    """Variables that point boto3, psql, terraform and cdktf at the local target."""
    from scripts.tfmirror import terraform_env

    if not state.aws_endpoint:
        raise RuntimeError("the local target is not running; start it with `platformctl local up`")
    exports = {
        **emulator.EMULATOR_CREDENTIALS,
        "AWS_DEFAULT_REGION": emulator.EMULATOR_REGION,
        "AWS_ENDPOINT_URL": state.aws_endpoint,
        contracts.LOCAL_ENDPOINT_ENV: state.aws_endpoint,
    }
    if state.pg_port:  # a target without PostgreSQL exports no PGPORT=None (initdb/psql would read it)
        exports.update(
            {
                "PGHOST": "127.0.0.1",
                "PGPORT": str(state.pg_port),
                "PGUSER": postgres.SUPERUSER,
                "PGDATABASE": LOCAL_DB_NAME,
                # The password stays in a 0600 file instead of the environment or the terminal.
                "PGPASSFILE": str(target_dir() / "pgpass"),
            }
        )
    if state.vault_address:
        exports[contracts.ENV_VAULT_ADDR] = state.vault_address  # never a token: that stays in its 0600 file
        # What the `local` environment derives its vault.address from (synth, scripts' fallbacks).
        exports[contracts.LOCAL_VAULT_PORT_ENV] = str(state.vault_port)
    tf_env = terraform_env({})
    for key in ("TF_CLI_CONFIG_FILE", "CDKTF_SKIP_PROVIDER_LOCK", "CHECKPOINT_DISABLE"):
        if key in tf_env:
            exports[key] = tf_env[key]
    return exports


def render_exports(exports: dict[str, str]) -> str:
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in exports.items())


DATABASE_URL_ENV = contracts.ENV_DATABASE_URL


def apply_to_environ(state: TargetState, env: EnvironmentConfig | None = None) -> None:
    """For in-process use (deploys): the variables `local env` prints, plus where the local
    migration gate finds its credentials in the vault.

    The gate (a local-exec step of `<env>-service`) inherits this process's environment. It gets no
    database URL from here: it logs in to the local OpenBao with the migration role's AppRole
    credentials (0600 file) and reads the migration login, as the migration task does in production
    (scripts/vault/local.py). Any DATABASE_URL already exported is removed, so neither a stale URL
    nor the superuser's can reach the migration.
    """
    os.environ.update(shell_exports(state))
    os.environ.pop(DATABASE_URL_ENV, None)
    if env is not None and state.vault_address:
        from scripts.vault.local import export_gate_environment

        export_gate_environment(env, state.vault_address, os.environ)
        log.info("the local migration gate reads its credentials from OpenBao at %s", state.vault_address)
