"""Which Vault the AWS-IAM-auth tests talk to: the double (default) or a real HashiCorp Vault.

The double stays for what no obtainable server does: AWS IAM auth logins and Vault-only behaviour
(docs/adr/0010 lists those tests). Everything else runs on the real OpenBao of the `openbao_server`
session fixture, and tests/integration/scripts/vault/test_double_matches_openbao.py keeps the double's
shared API subset equal to OpenBao's.

To run these tests against a real Vault (dev server is fine), export both
    VAULT_ADDR=http://127.0.0.1:8200  VAULT_TOKEN=<a root token>
before pytest. The real Vault's AWS auth forwards logins to STS itself, so it must reach the
local AWS emulator: the tests configure `sts_endpoint`/`iam_endpoint` on their own auth mounts to
the emulator's address, which must therefore be reachable from the Vault server. Every test uses
its own environment name, KV mount, auth mount and audit path, so runs do not collide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.helpers.vault_double.server import VaultDouble


@dataclass(frozen=True)
class VaultUnderTest:
    address: str
    root_token: str
    double: VaultDouble | None  # None when a real Vault is used

    @property
    def is_real(self) -> bool:
        return self.double is None


def real_vault_configured() -> bool:
    return bool(os.environ.get("VAULT_ADDR") and os.environ.get("VAULT_TOKEN"))


@contextmanager
def vault_under_test(root_token: str = "root-token-for-tests") -> Iterator[VaultUnderTest]:
    if real_vault_configured():
        yield VaultUnderTest(os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"], None)
        return
    with VaultDouble(root_token=root_token) as double:
        yield VaultUnderTest(double.address, root_token, double)
