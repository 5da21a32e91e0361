"""Turning secrets into environment variables (the pure part of `secrets exec`)."""

from __future__ import annotations

import pytest

from scripts.runtime.secrets_exec import env_name, exec_child, secrets_to_env
from scripts.runtime.vault_client import VaultError


def test_keys_become_upper_snake_with_optional_prefix() -> None:
    assert env_name("db-password") == "DB_PASSWORD"
    assert env_name("host", "PG_") == "PG_HOST"
    env = secrets_to_env({"app/database": {"username": "u", "port": 5432}, "app/api": {"api.key": "k"}})
    assert env == {"DATABASE_USER": "u", "DATABASE_PORT": "5432", "API_KEY": "k"}


def test_same_variable_from_two_paths_is_an_error_not_a_silent_override() -> None:
    with pytest.raises(VaultError, match="PASSWORD would be set by both a/db and b/db") as err:
        secrets_to_env({"a/db": {"password": "one"}, "b/db": {"password": "two"}})
    assert "one" not in str(err.value) and "two" not in str(err.value)


def test_key_that_cannot_be_a_variable_is_refused() -> None:
    with pytest.raises(VaultError, match="does not make a valid environment variable"):
        env_name("1password")


def test_exec_of_a_missing_program_is_a_clear_error() -> None:
    with pytest.raises(VaultError, match="cannot run 'no-such-program-xyz'"):
        exec_child(["no-such-program-xyz"], {})


def test_choose_auth_prefers_aws_uses_approle_only_locally_and_refuses_elsewhere() -> None:
    from scripts.vault.bootstrap import choose_auth
    from scripts.vault.capabilities import ServerCapabilities

    vault = ServerCapabilities(aws_auth=True, api_audit=True, product="vault")
    bao = ServerCapabilities(aws_auth=False, api_audit=False, product="openbao")
    assert choose_auth(vault, "local", "local") == "aws" and choose_auth(vault, "production", "prod") == "aws"
    assert choose_auth(bao, "local", "local") == "approle"
    with pytest.raises(VaultError, match="register the external `aws` auth plugin"):
        choose_auth(bao, "non-production", "staging")
