"""What the local target exports: the shell gets PGPASSFILE and VAULT_ADDR (never a password or
token); the in-process deploy path tells the local migration gate where in the vault its login is,
and never hands it a database URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.contracts import names as contracts
from scripts.localtarget import target
from scripts.localtarget.target import TargetState

PASSWORD = "throwaway-pw-1234"


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TargetState:
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    data_dir = tmp_path / "pg"
    data_dir.mkdir()
    (tmp_path / "pg.pw").write_text(PASSWORD + "\n")
    st = TargetState(aws_pid=1, aws_port=45666, pg_data_dir=str(data_dir), pg_port=54329)
    target.save(st)
    return st


def test_shell_exports_carry_no_password_and_no_database_url(state: TargetState) -> None:
    exports = target.shell_exports(state)
    assert "DATABASE_URL" not in exports
    assert exports["PGPASSFILE"].endswith("pgpass")
    assert not [k for k, v in exports.items() if PASSWORD in v]


def test_a_target_without_postgres_exports_no_pg_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An emulator-only target (CI, `state bootstrap` in tests) must not export PGPORT=None: a
    PostgreSQL started later in that process (initdb, the server) would read it."""
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    exports = target.shell_exports(TargetState(aws_pid=1, aws_port=45666))
    assert exports["AWS_ENDPOINT_URL"] == "http://127.0.0.1:45666"
    assert not [k for k in exports if k.startswith("PG")]


def test_local_env_command_does_not_print_the_password(
    state: TargetState, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.commands.core import env_cmd

    monkeypatch.setattr(TargetState, "aws_running", lambda self: True)
    result = CliRunner().invoke(env_cmd, [])
    assert result.exit_code == 0, result.output
    assert "PGPASSFILE" in result.stdout
    assert PASSWORD not in result.output and "DATABASE_URL" not in result.output


def test_deploy_path_points_the_gate_at_the_vault_and_drops_any_database_url(
    state: TargetState, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import load_environment
    from scripts.vault import local

    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@prod-db.example.com/app")  # stale, from a shell
    state.vault_port = 8299
    # setenv (not delenv) so that monkeypatch removes what apply_to_environ sets: nothing leaks into
    # later tests of the session.
    for key in [*target.shell_exports(state), local.ROLE_ENV, local.PATH_ENV, local.MOUNT_ENV]:
        monkeypatch.setenv(key, "1234" if key == contracts.LOCAL_VAULT_PORT_ENV else "stale")
    target.apply_to_environ(state, load_environment("local"))
    # what the synth and every script of this deploy derive `local`'s vault.address from (issue 18)
    assert os.environ[contracts.LOCAL_VAULT_PORT_ENV] == "8299"
    assert load_environment("local").vault.address == "http://127.0.0.1:8299"
    assert "DATABASE_URL" not in os.environ
    assert not [k for k, v in os.environ.items() if PASSWORD in v]
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:45666"
    assert os.environ["VAULT_ADDR"] == "http://127.0.0.1:8299" and "VAULT_TOKEN" not in target.shell_exports(state)
    assert os.environ[local.ROLE_ENV] == "local-app-migration"
    assert os.environ[local.PATH_ENV] == "migration/app/database"
    assert os.environ[local.MOUNT_ENV] == "platform-internal"


def test_the_gate_uses_the_migration_owners_login() -> None:
    """`migration.image_from` names the workload whose migration login the gate reads (ADR 0011)."""
    from app.config import load_environment
    from scripts.vault import local

    env = load_environment("local")
    moved = env.model_copy(update={"migration": env.migration.model_copy(update={"image_from": "worker"})})
    gate = local.gate_environment(moved, "http://127.0.0.1:8200")
    assert gate[local.ROLE_ENV] == "local-worker-migration"
    assert gate[local.PATH_ENV] == "migration/worker/database"


def test_an_environment_without_services_exports_no_gate_and_clears_a_stale_one() -> None:
    from app.config import load_environment
    from scripts.vault import local

    env = load_environment("local").model_copy(update={"services": {}})
    environ = {local.ROLE_ENV: "stale", local.PATH_ENV: "stale", local.MOUNT_ENV: "stale", "KEEP": "1"}
    local.export_gate_environment(env, "http://127.0.0.1:8200", environ)
    assert environ == {"KEEP": "1"}
