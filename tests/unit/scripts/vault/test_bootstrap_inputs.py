"""`vault bootstrap`'s three input sources merged: explicit options, stack outputs, the local target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from app.schema import EnvironmentConfig
from scripts.localtarget.vault_inputs import local_inputs
from scripts.vault import local as local_mod
from scripts.vault.bootstrap_inputs import ResolvedInputs, parse_pairs

APP_ARN = "arn:aws:iam::123456789012:role/ecs/app-task"
MIGRATION_ARN = "arn:aws:iam::123456789012:role/ecs/app-migration"
STS_ARN = "arn:aws:iam::123456789012:role/vault-aws-auth"


def _options(**given: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "token": "t0ken",
        "token_stdin": False,
        "address": None,
        "task_roles": (),
        "migration_roles": (),
        "outputs_file": None,
        "from_state": False,
        "sts_role_arn": None,
        "db_host": None,
        "db_port": None,
        "db_name": None,
        "db_sslmode": "require",
        "master_secret_arn": None,
        "audit_file_path": None,
        "read_local_target": local_inputs,
    }
    return {**options, **given}


def _outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "local-database": {
                    "address": "db.internal",
                    "port": 6543,
                    "database_name": "appdb",
                    "master_secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master",
                },
                "local-vault": {"address": "https://vault.internal", "aws_auth_role_arn": STS_ARN},
                "local-service": {
                    "vault_task_role_arns": {"app": APP_ARN},
                    "vault_migration_role_arns": {"app": MIGRATION_ARN},
                },
            }
        )
    )
    return path


def test_the_outputs_fill_in_what_was_not_given_and_explicit_options_win(
    local_env: EnvironmentConfig, tmp_path: Path
) -> None:
    explicit_migration = "arn:aws:iam::123456789012:role/ecs/explicit-migration"
    inputs = ResolvedInputs.resolve(
        local_env,
        **_options(
            outputs_file=_outputs_file(tmp_path),
            db_host="explicit.db",
            migration_roles=(f"app={explicit_migration}",),
        ),
    )
    assert inputs.address == "https://vault.internal"
    assert inputs.sts_role_arn == STS_ARN
    assert inputs.task_roles == {"app": APP_ARN}
    assert inputs.migration_roles == {"app": explicit_migration}
    assert (inputs.db_host, inputs.db_port, inputs.db_name) == ("explicit.db", 6543, "appdb")
    assert (inputs.db_sslmode, inputs.master, inputs.require_token()) == ("require", None, "t0ken")


def test_the_local_target_replaces_address_token_and_database(local_env: EnvironmentConfig) -> None:
    local = local_mod.LocalInputs("http://127.0.0.1:8200", "root", db_port=15432, audit_file_path="/var/audit.log")
    given = {"read_local_target": lambda: local}
    inputs = ResolvedInputs.resolve(local_env, **_options(token="exported-for-another-vault", **given))
    assert (inputs.address, inputs.require_token()) == ("http://127.0.0.1:8200", "root")
    assert (inputs.db_host, inputs.db_port, inputs.db_sslmode) == ("127.0.0.1", 15432, "disable")
    assert (inputs.master_secret_arn, inputs.audit_file_path) == ("local-target-superuser", "/var/audit.log")
    # Only a token given on stdin overrides the local root token.
    piped = ResolvedInputs.resolve(local_env, **_options(token="piped", token_stdin=True, **given))
    assert piped.require_token() == "piped"


def test_an_explicit_address_means_no_local_target(local_env: EnvironmentConfig) -> None:
    inputs = ResolvedInputs.resolve(local_env, **_options(address="https://vault.example"))
    assert (inputs.address, inputs.db_host, inputs.master_secret_arn) == ("https://vault.example", None, None)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"outputs_file": Path("x.json"), "from_state": True}, "are alternatives"),
        ({"token": None}, "no Vault token"),
    ],
)
def test_usage_errors(local_env: EnvironmentConfig, given: dict[str, Any], message: str) -> None:
    with pytest.raises(click.UsageError, match=message):
        ResolvedInputs.resolve(local_env, **_options(address="https://vault.example", **given))


def test_pairs_must_be_workload_equals_arn() -> None:
    assert parse_pairs(("app=arn:x", "jobs=arn:y"), "--task-role-arn") == {"app": "arn:x", "jobs": "arn:y"}
    with pytest.raises(click.BadParameter, match="expected WORKLOAD=ARN"):
        parse_pairs(("app",), "--task-role-arn")
