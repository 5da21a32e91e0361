"""The documented standalone local migration (docs/migrations.md) works as written, and records
its success like the ECS runner does (issue 20 item 5).

The sequence a user types, as CLI calls against a real local target (emulator, PostgreSQL, OpenBao):
`local up`, `vault bootstrap --env local`, `eval "$(platformctl local env)"`, then
`migrate run --environment local --service local-app --local --cwd examples/webapp` — twice. No
DATABASE_URL is exported anywhere: the runner logs in to the local OpenBao with the migration
role and takes the migrator login from it. The second run is skipped with the record in the local
target's state bucket, exactly as an ECS rollback would be.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hvac
import psycopg
import pytest
from click.testing import CliRunner, Result

from app.config import load_environment
from app.contracts import names as contracts
from scripts.awsclients import client
from scripts.localtarget import target
from scripts.localtarget.procs import free_port
from scripts.migrate.history import RECORD_PREFIX
from scripts.platformctl import _register, cli
from scripts.vault import local
from tests.integration.scripts.localtarget.test_local_target import vault_port

pytestmark = pytest.mark.integration
_register()

# docs/migrations.md, word for word
DOCUMENTED = [
    "migrate", "run", "--environment", "local", "--service", "local-app", "--local", "--cwd", "examples/webapp",
]  # fmt: skip


@pytest.fixture()
def local_target(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Directly below /tmp: pytest's tmp_path sits in a 0700 directory the postgres user cannot enter.
    with tempfile.TemporaryDirectory(prefix="platform-migrate-") as d:
        Path(d).chmod(0o755)
        monkeypatch.setenv("PLATFORM_HOME", f"{d}/home")
        for name in ("DATABASE_URL", "VAULT_TOKEN", local.ROLE_ENV, local.PATH_ENV, local.MOUNT_ENV):
            monkeypatch.delenv(name, raising=False)
        # `source .venv/bin/activate`: the migration command (`alembic`) is found on PATH
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        try:
            yield Path(d) / "home"
        finally:
            target.down()


def platformctl(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def eval_local_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`eval "$(platformctl local env)"`: every exported variable, as the shell would set it."""
    exports = platformctl("local", "env")
    assert exports.exit_code == 0, exports.output
    for line in exports.output.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        monkeypatch.setenv(name, shlex.split(value)[0] if value else "")


def test_documented_local_migration_runs_with_the_vault_login_and_a_second_run_is_skipped(
    local_target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    up = platformctl("local", "up", "--aws-port", str(free_port()), "--pg-port", str(free_port()),
                     "--vault-port", str(vault_port()))  # fmt: skip
    assert up.exit_code == 0, up.output
    bootstrapped = platformctl("vault", "bootstrap", "--env", "local")
    assert bootstrapped.exit_code == 0, bootstrapped.output
    eval_local_env(monkeypatch)
    env = load_environment("local")
    s3 = client("s3", env)
    s3.create_bucket(Bucket=env.state.bucket)  # what `platformctl deploy --env local` bootstraps first

    first = platformctl(*DOCUMENTED)
    assert first.exit_code == 0, first.output
    assert "Running upgrade 0001 -> 0002" in first.output and "migration succeeded" in first.output
    state = target.load()
    with psycopg.connect(state.database_url()) as conn:  # the superuser looks at what the migrator did
        owner = conn.execute("SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'notes'").fetchone()
        assert owner == ("app", "app_migrator")  # the migration login's own schema
        assert conn.execute("SELECT version_num FROM app.alembic_version").fetchall() == [("0002",)]
    records = s3.list_objects_v2(Bucket=env.state.bucket, Prefix=f"{RECORD_PREFIX}/local-app/")["Contents"]
    assert len(records) == 1
    record = json.loads(s3.get_object(Bucket=env.state.bucket, Key=records[0]["Key"])["Body"].read())
    assert record["image"].startswith("checkout:examples/webapp@sha256:")
    assert record["command"] == ["alembic", "upgrade", "head"] and record["runner"] == "local"

    second = platformctl(*DOCUMENTED)
    assert second.exit_code == 0, second.output
    assert "Running upgrade" not in second.output
    assert (
        f"migration skipped: {record['image']} with this migration command already migrated successfully "
        f"({record['process']}, {record['succeeded_at']})"
    ) in second.output
    assert "Pass --always-migrate to run it anyway" in second.output

    forced = platformctl(*DOCUMENTED, "--always-migrate")
    assert forced.exit_code == 0 and "migration succeeded" in forced.output, forced.output

    vault = hvac.Client(url=state.vault_address, token=state.vault_root_token())
    migrator = vault.secrets.kv.v2.read_secret_version(
        contracts.migration_kv_path("app"), mount_point=contracts.internal_kv_mount(env.vault.kv_mount),
        raise_on_deleted_version=True,
    )["data"]["data"]  # fmt: skip
    assert migrator["username"] == "app_migrator"
    secrets = [state.pg_password(), state.vault_root_token(), migrator["password"]]
    for out in (first.output, second.output, forced.output, json.dumps(record)):
        assert not any(secret in out for secret in secrets)


def test_without_a_local_target_the_runner_says_what_to_start(local_target: Path) -> None:
    result = platformctl(*DOCUMENTED)
    assert result.exit_code == 64, result.output
    assert "the local OpenBao is not running" in result.output and "platformctl local up" in result.output
