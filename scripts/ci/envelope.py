"""Envelope encryption of plan bundles under the environment's KMS key.

KMS GenerateDataKey gives a fresh AES-256 key per bundle (plaintext + KMS-encrypted copy); the
payload is sealed with AES-256-GCM and the plaintext key is dropped. The header (environment,
key, format) is GCM associated data and the same values are KMS encryption context, so a bundle
moved to another environment, or with a flipped byte anywhere, fails to open.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENVELOPE_FORMAT = "platform-ci-envelope/1"
PURPOSE = "ci-plan-bundle"


class EnvelopeError(Exception):
    """The bundle cannot be opened: tampered, wrong environment, or KMS refused the data key."""


def _context(environment: str) -> dict[str, str]:
    return {"platform:environment": environment, "platform:purpose": PURPOSE}


def seal(payload: bytes, *, kms: Any, key_id: str, environment: str) -> bytes:
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=_context(environment))
    header = {"format": ENVELOPE_FORMAT, "environment": environment, "key_id": key_id}
    aad = json.dumps(header, sort_keys=True).encode()
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, payload, aad)
    envelope = {
        **header,
        "encrypted_data_key": base64.b64encode(data_key["CiphertextBlob"]).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(envelope, sort_keys=True).encode()


def open_sealed(blob: bytes, *, kms: Any, environment: str) -> bytes:
    try:
        envelope = json.loads(blob)
        header = {k: envelope[k] for k in ("format", "environment", "key_id")}
        encrypted_key = base64.b64decode(envelope["encrypted_data_key"])
        nonce = base64.b64decode(envelope["nonce"])
        ciphertext = base64.b64decode(envelope["ciphertext"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError(f"not a readable bundle envelope ({type(exc).__name__})") from exc
    if header["format"] != ENVELOPE_FORMAT:
        raise EnvelopeError(f"unknown envelope format {header['format']!r}")
    if header["environment"] != environment:
        raise EnvelopeError(f"bundle is sealed for environment {header['environment']!r}, not {environment!r}")
    try:
        plain_key = kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext=_context(environment))["Plaintext"]
    except Exception as exc:  # botocore ClientError: InvalidCiphertext, AccessDenied, ...
        raise EnvelopeError(f"KMS refused to decrypt the bundle's data key: {exc}") from exc
    aad = json.dumps(header, sort_keys=True).encode()
    try:
        return AESGCM(plain_key).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise EnvelopeError("bundle failed authentication: it was modified after it was sealed") from exc
