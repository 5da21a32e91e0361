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
    return load_environment("local", DEFAULT_CONFIG_DIR)


@pytest.fixture()
def uid() -> str:
    return secrets.token_hex(3)
