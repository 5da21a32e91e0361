"""Unit-level Vault fixtures: the double (or a real Vault, see tests/helpers/vault_double/target.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from app.config import DEFAULT_CONFIG_DIR, load_environment
from app.schema import EnvironmentConfig
from tests.helpers.vault_double.target import VaultUnderTest, vault_under_test


@pytest.fixture()
def vault() -> Iterator[VaultUnderTest]:
    with vault_under_test() as v:
        yield v


@pytest.fixture()
def local_env() -> EnvironmentConfig:
    # The shipped `local` runs two services (app, worker); these tests exercise one workload.
    env = load_environment("local", DEFAULT_CONFIG_DIR)
    only_app = [w for w in env.vault.workloads if w.name == "app"]
    return env.model_copy(update={"vault": env.vault.model_copy(update={"workloads": only_app})})


@pytest.fixture()
def uid() -> str:
    return secrets.token_hex(3)
