"""`vault init`: initialise a Vault/OpenBao server once without ever losing its keys.

sys/init returns the recovery (or, with a Shamir seal, unseal) keys and the root token exactly once,
so nothing after it may depend on the network:

1. before sys/init: the server is uninitialised, the S3 object is absent (HeadObject answers "no
   such key"; any other answer, 403 included, stops), and a KMS *data key* is obtained
   (GenerateDataKey; proves the key works and needs no KMS call afterwards);
2. sys/init;
3. the material is encrypted locally (AES-256-GCM with the data key, the encryption context as
   associated data): cannot fail on the network;
4. the envelope (ciphertext + KMS-encrypted data key) is written to a 0600 fallback file in the
   platform home *before* the upload, so even a kill at this point keeps it;
5. upload to S3 with `If-None-Match: *` (never over an object that appeared meanwhile); on success
   the fallback file is removed. If the upload fails the file stays and
   the message says where; if the file could not be written either, the (encrypted) envelope is
   handed to the caller to print: it is useless without KMS decrypt rights on the key.

`show_once` returns the plaintext material to the caller (the CLI prints it) instead of storing it.
Nothing here logs a key or token.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac

from app.contracts.workspace import platform_home
from scripts.runtime.vault_client import VaultError, vault_errors

log = logging.getLogger(__name__)

ALGORITHM = "AES-256-GCM+KMS-data-key"
# What S3 answers on HeadObject for a missing key (a HEAD has no body: the HTTP status is the code).
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def default_object_key(env: str) -> str:
    return f"vault/{env}/init.json.enc"


def fallback_file(env: str) -> Path:
    return platform_home() / f"vault-init-{env}.json.enc"


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


class InitNotStored(VaultError):
    """Vault was initialised but the envelope could not be uploaded; `where` says where it is instead."""

    def __init__(self, message: str, envelope: bytes | None) -> None:
        super().__init__(message)
        self.envelope = envelope  # set only when no local copy could be written either (ciphertext)


@dataclass(frozen=True)
class _DataKey:
    plaintext: bytes = field(repr=False)
    encrypted: bytes = b""


def _encryption_context(env: str) -> dict[str, str]:
    return {"purpose": "vault-init", "environment": env}


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True).encode()


def _preflight(client: hvac.Client, address: str, req: InitRequest, kms: Any, s3: Any) -> tuple[str, _DataKey | None]:
    """Everything that can fail, before sys/init; returns the seal type and (unless show_once) a data key."""
    if not 1 <= req.recovery_threshold <= req.recovery_shares:
        raise VaultError("recovery threshold must be between 1 and the number of recovery shares")
    with vault_errors(address, "the initialisation status (sys/seal-status)"):
        status = client.sys.read_seal_status()
    if status.get("initialized"):
        raise VaultError(
            f"Vault at {address} is already initialised; nothing was changed. Its recovery keys are where "
            f"the first init put them (default s3://<state bucket>/{default_object_key(req.env)}, or "
            f"{fallback_file(req.env)} if that upload failed)"
        )
    seal = str(status.get("type") or "shamir")
    if req.show_once:
        return seal, None
    try:
        s3.head_bucket(Bucket=req.bucket)
    except Exception as exc:
        raise VaultError(f"cannot use bucket {req.bucket}: {type(exc).__name__}; Vault was not initialised") from None
    _check_absent(s3, req)
    if fallback_file(req.env).exists():
        raise VaultError(
            f"{fallback_file(req.env)} holds init material of an earlier init that was never uploaded; "
            "upload or move it first. Vault was not initialised"
        )
    try:
        answer = kms.generate_data_key(
            KeyId=req.kms_key_id, KeySpec="AES_256", EncryptionContext=_encryption_context(req.env)
        )
    except Exception as exc:
        raise VaultError(
            f"cannot encrypt with KMS key {req.kms_key_id} (GenerateDataKey: {type(exc).__name__}); "
            "Vault was not initialised"
        ) from None
    return seal, _DataKey(answer["Plaintext"], answer["CiphertextBlob"])


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__


def _check_absent(s3: Any, req: InitRequest) -> None:
    """Only S3's "no such key" means absent. Anything else (403, throttling, network) stops: a 403
    on HeadObject is also what S3 answers for an *existing* object one may not read, and init
    material overwritten is a Vault locked out for good."""
    where = f"s3://{req.bucket}/{req.object_key}"
    try:
        s3.head_object(Bucket=req.bucket, Key=req.object_key)
    except Exception as exc:
        code = _error_code(exc)
        if code in NOT_FOUND_CODES:
            return
        raise VaultError(
            f"cannot tell whether {where} exists (HeadObject: {code}); Vault was not initialised. The "
            "caller needs s3:GetObject on the key and s3:ListBucket on the bucket (without it S3 answers "
            "403 for a missing key too)"
        ) from None
    raise VaultError(f"{where} already exists; refusing to overwrite earlier init material. Vault was not initialised")


def seal_envelope(material: dict[str, Any], key: _DataKey, req: InitRequest) -> bytes:
    """Local AES-GCM encryption under the data key; no I/O."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # here: keeps CLI start-up fast

    context = _encryption_context(req.env)
    nonce = os.urandom(12)
    ciphertext = AESGCM(key.plaintext).encrypt(nonce, json.dumps(material).encode(), _aad(context))
    return json.dumps(
        {
            "algorithm": ALGORITHM,
            "kms_key_id": req.kms_key_id,
            "encryption_context": context,
            "encrypted_data_key_b64": base64.b64encode(key.encrypted).decode(),
            "nonce_b64": base64.b64encode(nonce).decode(),
            "ciphertext_b64": base64.b64encode(ciphertext).decode(),
        }
    ).encode()


def open_envelope(kms: Any, body: bytes) -> dict[str, Any]:
    """Decrypt a stored envelope (recovery: needs kms:Decrypt on the key with the same context)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    doc = json.loads(body)
    context = doc["encryption_context"]
    key = kms.decrypt(CiphertextBlob=base64.b64decode(doc["encrypted_data_key_b64"]), EncryptionContext=context)[
        "Plaintext"
    ]
    plaintext = AESGCM(key).decrypt(
        base64.b64decode(doc["nonce_b64"]), base64.b64decode(doc["ciphertext_b64"]), _aad(context)
    )
    return dict(json.loads(plaintext))


def _write_fallback(path: Path, body: bytes) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        return True
    except OSError as exc:
        log.error("could not keep a local copy of the encrypted init material at %s: %s", path, exc.strerror)
        return False


def initialize(client: hvac.Client, address: str, req: InitRequest, kms: Any = None, s3: Any = None) -> InitResult:
    """Initialise once and keep the recovery material safe (see module docstring)."""
    if not req.show_once and (kms is None or s3 is None):
        raise VaultError("KMS and S3 clients are needed to store the init material")
    seal, key = _preflight(client, address, req, kms, s3)
    shares = {"secret_shares": req.recovery_shares, "secret_threshold": req.recovery_threshold}
    if seal != "shamir":
        shares = {"recovery_shares": req.recovery_shares, "recovery_threshold": req.recovery_threshold}
    with vault_errors(address, "initialisation (sys/init)"):
        answer = client.sys.initialize(**shares)
    material = {
        "seal_type": seal,
        "recovery_keys_b64": answer.get("recovery_keys_base64") or [],
        "unseal_keys_b64": answer.get("keys_base64") or [],
        "root_token": answer["root_token"],
    }
    count = len(material["recovery_keys_b64"] or material["unseal_keys_b64"])
    log.info("Vault at %s initialised (%s seal) with %d key share(s)", address, seal, count)
    if req.show_once or key is None:
        return InitResult(None, material)
    body = seal_envelope(material, key, req)
    fallback = fallback_file(req.env)
    kept = _write_fallback(fallback, body)
    where = f"s3://{req.bucket}/{req.object_key}"
    try:
        s3.put_object(
            Bucket=req.bucket,
            Key=req.object_key,
            Body=body,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=req.kms_key_id,
            ContentType="application/json",
            # Conditional write: if anything appeared at the key since the preflight, S3 answers 412
            # instead of overwriting it (the material then stays in the fallback file, below).
            IfNoneMatch="*",
        )
    except Exception as exc:
        raced = _error_code(exc) in ("PreconditionFailed", "412")
        if kept and raced:
            raise InitNotStored(
                f"Vault was initialised but {where} appeared after the preflight (PreconditionFailed) and was "
                f"NOT overwritten: it is another init's material. This init's encrypted material is in {fallback} "
                "(0600): find out which init the server answers to before replacing either",
                None,
            ) from None
        if kept:
            raise InitNotStored(
                f"Vault was initialised but writing {where} failed ({_error_code(exc)}); the encrypted init "
                f"material is in {fallback} (0600): upload it to {where} now, e.g. `aws s3 cp {fallback} {where}`",
                None,
            ) from None
        raise InitNotStored(
            f"Vault was initialised but writing {where} failed ({_error_code(exc)}) and no local copy could be "
            "written; the encrypted init material follows: save it now (it needs KMS decrypt on "
            f"{req.kms_key_id} to open)",
            body,
        ) from None
    if kept:
        fallback.unlink(missing_ok=True)
    log.info("recovery keys and root token stored encrypted at %s", where)
    return InitResult(where)
