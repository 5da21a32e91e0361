"""`vault init` for a self-hosted Vault with KMS auto-unseal.

sys/init returns the recovery keys and the initial root token exactly once. They are encrypted with
KMS and stored as one S3 object, never logged; `show_once` hands them back to the caller (the CLI
prints them) *instead* of storing them. Everything that can fail is checked before sys/init: Vault
not yet initialised, the KMS key usable for encryption, the S3 object not already present.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import hvac

from scripts.vault.client import VaultError, vault_errors
from scripts.workspace import platform_home

log = logging.getLogger(__name__)


def default_object_key(env: str) -> str:
    return f"vault/{env}/init.json.enc"


@dataclass(frozen=True)
class InitRequest:
    env: str
    kms_key_id: str
    bucket: str
    object_key: str
    recovery_shares: int = 5
    recovery_threshold: int = 3
    show_once: bool = False


@dataclass(frozen=True)
class InitResult:
    stored_at: str | None  # s3://bucket/key, None with show_once
    # Only filled with show_once; repr=False so it never ends up in logs or tracebacks.
    secrets: dict[str, Any] | None = field(default=None, repr=False)


def _encryption_context(env: str) -> dict[str, str]:
    return {"purpose": "vault-init", "environment": env}


def _preflight(client: hvac.Client, address: str, req: InitRequest, kms: Any, s3: Any) -> None:
    if not 1 <= req.recovery_threshold <= req.recovery_shares:
        raise VaultError("recovery threshold must be between 1 and the number of recovery shares")
    with vault_errors(address, "the initialisation status (sys/init)"):
        initialised = client.sys.is_initialized()
    if initialised:
        raise VaultError(
            f"Vault at {address} is already initialised; nothing was changed. Its recovery keys are where "
            f"the first init put them (default s3://<state bucket>/{default_object_key(req.env)})"
        )
    if req.show_once:
        return
    try:
        kms.encrypt(KeyId=req.kms_key_id, Plaintext=b"preflight", EncryptionContext=_encryption_context(req.env))
    except Exception as exc:
        raise VaultError(
            f"cannot encrypt with KMS key {req.kms_key_id}: {type(exc).__name__}; Vault was not initialised"
        ) from None
    try:
        s3.head_bucket(Bucket=req.bucket)
    except Exception as exc:
        raise VaultError(f"cannot use bucket {req.bucket}: {type(exc).__name__}; Vault was not initialised") from None
    try:
        s3.head_object(Bucket=req.bucket, Key=req.object_key)
    except Exception:
        return  # absent: good
    raise VaultError(
        f"s3://{req.bucket}/{req.object_key} already exists; refusing to overwrite earlier init "
        "material. Vault was not initialised"
    )


def initialize(client: hvac.Client, address: str, req: InitRequest, kms: Any = None, s3: Any = None) -> InitResult:
    """Initialise Vault once and keep its recovery material safe (see module docstring)."""
    if not req.show_once and (kms is None or s3 is None):
        raise VaultError("KMS and S3 clients are needed to store the init material")
    _preflight(client, address, req, kms, s3)
    with vault_errors(address, "initialisation (sys/init)"):
        answer = client.sys.initialize(recovery_shares=req.recovery_shares, recovery_threshold=req.recovery_threshold)
    material = {
        "recovery_keys_b64": answer.get("recovery_keys_base64") or [],
        "unseal_keys_b64": answer.get("keys_base64") or [],
        "root_token": answer["root_token"],
    }
    log.info("Vault at %s initialised with %d recovery share(s)", address, len(material["recovery_keys_b64"]))
    if req.show_once:
        return InitResult(None, material)
    ciphertext = kms.encrypt(
        KeyId=req.kms_key_id, Plaintext=json.dumps(material).encode(), EncryptionContext=_encryption_context(req.env)
    )["CiphertextBlob"]
    body = json.dumps(
        {
            "kms_key_id": req.kms_key_id,
            "encryption_context": _encryption_context(req.env),
            "ciphertext_b64": base64.b64encode(ciphertext).decode(),
        }
    ).encode()
    where = f"s3://{req.bucket}/{req.object_key}"
    try:
        s3.put_object(
            Bucket=req.bucket,
            Key=req.object_key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=req.kms_key_id,
            ContentType="application/json",
        )
    except Exception as exc:
        # Vault is initialised now and will never show these keys again: keep the ciphertext locally.
        fallback = platform_home() / f"vault-init-{req.env}.json.enc"
        fallback.touch(mode=0o600)
        fallback.write_bytes(body)
        raise VaultError(
            f"Vault was initialised but writing {where} failed ({type(exc).__name__}); the "
            f"KMS-encrypted init material was saved to {fallback}: upload it now"
        ) from None
    log.info("recovery keys and root token stored KMS-encrypted at %s", where)
    return InitResult(where)
