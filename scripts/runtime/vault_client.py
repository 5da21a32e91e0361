"""Build hvac clients and turn hvac/requests failures into `VaultError`s that say what to do.

Messages never contain token values: they name the address and the operation only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import hvac
import hvac.exceptions
import requests

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15


class VaultError(Exception):
    """A Vault operation failed; the message is meant for the operator, never carries secrets."""


@contextlib.contextmanager
def vault_errors(address: str, action: str) -> Iterator[None]:
    """Translate hvac/requests exceptions raised while doing `action` into a VaultError."""
    try:
        yield
    except hvac.exceptions.Forbidden as exc:
        raise VaultError(
            f"Vault at {address} denied {action} (403 permission denied): the token is wrong, expired or "
            "revoked, or its policies do not allow this; check VAULT_TOKEN / the login role"
        ) from exc
    except hvac.exceptions.Unauthorized as exc:
        raise VaultError(f"Vault at {address} refused {action} (401): log in again") from exc
    except (hvac.exceptions.VaultDown, hvac.exceptions.VaultNotInitialized) as exc:
        raise VaultError(
            f"Vault at {address} is sealed or not initialised ({action}); run `platformctl vault init` "
            "or unseal it first"
        ) from exc
    except hvac.exceptions.VaultError as exc:
        errors = "; ".join(exc.errors or []) or type(exc).__name__
        raise VaultError(f"Vault at {address} rejected {action}: {errors}") from exc
    except requests.exceptions.SSLError as exc:
        raise VaultError(
            f"TLS verification of Vault at {address} failed ({action}); pass --ca-bundle with the CA "
            "that signed the server certificate"
        ) from exc
    except requests.exceptions.ConnectionError as exc:
        raise VaultError(
            f"cannot reach Vault at {address} ({action}): check the address, that Vault runs and that "
            "this machine can reach it (VPN, security groups)"
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise VaultError(f"Vault at {address} did not answer in time ({action})") from exc


def build_client(
    address: str,
    token: str | None = None,
    namespace: str | None = None,
    ca_bundle: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
) -> hvac.Client:
    """An hvac client; TLS is verified against `ca_bundle` when given, the system CAs otherwise."""
    if not address.startswith(("http://", "https://")):
        raise VaultError(f"Vault address must start with http:// or https://, got {address!r}")
    verify: bool | str = ca_bundle if ca_bundle else True
    return hvac.Client(url=address, token=token, namespace=namespace, verify=verify, timeout=timeout)


def connect(
    address: str,
    token: str,
    namespace: str | None = None,
    ca_bundle: str | None = None,
) -> tuple[hvac.Client, dict[str, Any]]:
    """A client whose token was checked with lookup-self; returns it and the token's (secret-free) info."""
    if not token:
        raise VaultError("no Vault token given; export VAULT_TOKEN (or pipe it to --token-stdin)")
    client = build_client(address, token, namespace, ca_bundle)
    with vault_errors(address, "the token lookup (auth/token/lookup-self)"):
        data = client.auth.token.lookup_self()["data"]
    info = {"policies": list(data.get("policies") or []), "display_name": data.get("display_name", "")}
    log.debug("authenticated to Vault at %s as %s", address, info["display_name"] or "<unnamed token>")
    return client, info


def is_root_token(info: dict[str, Any]) -> bool:
    return "root" in info.get("policies", [])


def wait_kv_v2_ready(client: hvac.Client, mount: str, timeout: float = 30.0) -> None:
    """Wait until a just-enabled KV v2 mount serves requests.

    A non-dev server first "upgrades" a new v2 mount and answers 400 "Upgrading from non-versioned
    to versioned data" meanwhile; a write in that window fails. A read of a path that was never
    written answers 404 once the mount is ready.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.secrets.kv.v2.read_secret_version(
                "platformctl-readiness-probe", mount_point=mount, raise_on_deleted_version=True
            )
            return
        except hvac.exceptions.InvalidPath:
            return
        except hvac.exceptions.InvalidRequest as exc:
            if "upgrading" not in str(exc).lower() or time.monotonic() > deadline:
                raise
        time.sleep(0.1)
