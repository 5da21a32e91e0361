"""Envelope encryption of plan bundles under the environment's KMS key, pinned.

KMS GenerateDataKey gives a fresh AES-256 key per bundle (plaintext + KMS-encrypted copy); the
payload is sealed with AES-256-GCM and the plaintext key is dropped. The header (format,
environment, the key's ARN) and the encrypted data key are GCM associated data, and format,
environment and key ARN are also KMS encryption context. Opening resolves the environment's key
itself and decrypts with `KeyId` set to it: a bundle sealed under any other key that the runner
happens to be able to decrypt is refused.

This is confidentiality plus integrity against *outsiders* only: every runner that may Decrypt
can recover the data key and re-seal. Authenticity comes from the stage signatures
(scripts/ci/signing.py), which no Decrypt permission gives.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENVELOPE_FORMAT = "platform-ci-envelope/2"
PURPOSE = "ci-plan-bundle"
HEADER = ("format", "environment", "key_id")


class EnvelopeError(Exception):
    """The bundle cannot be opened: tampered, wrong environment or key, or KMS refused the data key."""


def key_arn(kms: Any, key_id: str) -> str:
    """The ARN behind an alias/id: what the envelope records and what opening insists on."""
    try:
        return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
    except Exception as exc:  # botocore ClientError: NotFound, AccessDenied, ...
        raise EnvelopeError(f"cannot resolve KMS key {key_id} ({type(exc).__name__})") from exc


def _context(environment: str, arn: str) -> dict[str, str]:
    return {
        "platform:environment": environment,
        "platform:purpose": PURPOSE,
        "platform:format": ENVELOPE_FORMAT,
        "platform:key": arn,
    }


def _aad(header: dict[str, str], encrypted_key: bytes) -> bytes:
    bound = {**header, "encrypted_data_key": base64.b64encode(encrypted_key).decode()}
    return json.dumps(bound, sort_keys=True).encode()


def seal(payload: bytes, *, kms: Any, key_id: str, environment: str) -> bytes:
    arn = key_arn(kms, key_id)
    data_key = kms.generate_data_key(KeyId=arn, KeySpec="AES_256", EncryptionContext=_context(environment, arn))
    header = {"format": ENVELOPE_FORMAT, "environment": environment, "key_id": arn}
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, payload, _aad(header, data_key["CiphertextBlob"]))
    envelope = {
        **header,
        "encrypted_data_key": base64.b64encode(data_key["CiphertextBlob"]).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(envelope, sort_keys=True).encode()


def open_sealed(blob: bytes, *, kms: Any, environment: str, key_id: str) -> bytes:
    """The payload, if BLOB was sealed for ENVIRONMENT under exactly KEY_ID (alias or id)."""
    try:
        envelope = json.loads(blob)
        header = {k: envelope[k] for k in HEADER}
        encrypted_key = base64.b64decode(envelope["encrypted_data_key"], validate=True)
        nonce = base64.b64decode(envelope["nonce"], validate=True)
        ciphertext = base64.b64decode(envelope["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError(f"not a readable bundle envelope ({type(exc).__name__})") from exc
    if header["format"] != ENVELOPE_FORMAT:
        raise EnvelopeError(f"unknown envelope format {header['format']!r} (expected {ENVELOPE_FORMAT})")
    if header["environment"] != environment:
        raise EnvelopeError(f"bundle is sealed for environment {header['environment']!r}, not {environment!r}")
    pinned = key_arn(kms, key_id)
    if header["key_id"] != pinned:
        raise EnvelopeError(f"bundle is sealed under key {header['key_id']!r}, not the environment's key {pinned}")
    try:
        context = _context(environment, pinned)
        opened = kms.decrypt(CiphertextBlob=encrypted_key, KeyId=pinned, EncryptionContext=context)
    except Exception as exc:  # botocore ClientError: InvalidCiphertext, IncorrectKey, AccessDenied, ...
        raise EnvelopeError(f"KMS refused to decrypt the bundle's data key: {exc}") from exc
    if opened.get("KeyId") != pinned:  # KeyId= is the guard; this holds an emulator to it too
        raise EnvelopeError(f"the bundle's data key belongs to {opened.get('KeyId')!r}, not {pinned}")
    try:
        return AESGCM(opened["Plaintext"]).decrypt(nonce, ciphertext, _aad(header, encrypted_key))
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError("bundle failed authentication: it was modified after it was sealed") from exc
