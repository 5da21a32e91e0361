"""Connecting to Vault: wrong tokens and unreachable servers give clear, secret-free errors."""

from __future__ import annotations

import pytest

from scripts.localtarget.procs import free_port
from scripts.runtime.vault_client import VaultError, build_client, connect
from tests.helpers.vault_double.target import VaultUnderTest


def test_valid_token_connects_and_reports_its_policies(vault: VaultUnderTest) -> None:
    _, info = connect(vault.address, vault.root_token)
    assert "root" in info["policies"]
    assert vault.root_token not in repr(info)


def test_wrong_token_is_a_clear_error_without_the_token(vault: VaultUnderTest) -> None:
    with pytest.raises(VaultError) as err:
        connect(vault.address, "hvs.definitely-wrong-token")
    assert "permission denied" in str(err.value) and "VAULT_TOKEN" in str(err.value)
    assert "definitely-wrong-token" not in str(err.value)


def test_unreachable_vault_says_what_to_check() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(VaultError, match=f"cannot reach Vault at {address}.*check the address"):
        connect(address, "some-token")


def test_missing_token_and_bad_address_are_refused_before_any_request() -> None:
    with pytest.raises(VaultError, match="no Vault token given"):
        connect("http://127.0.0.1:1", "")
    with pytest.raises(VaultError, match="must start with http:// or https://"):
        build_client("vault.example.com:8200")
