"""Stage signatures of a plan bundle: what only the plan stage and the policy stage can make.

The envelope (scripts/ci/envelope.py) keeps outsiders out, but every runner that may Decrypt under
the state key can re-seal a bundle. Authenticity therefore comes from two asymmetric KMS keys
(modules/ci_signing_key.py) whose key policies grant `kms:Sign` to one role each:

- the plan statement: environment, the state key's ARN, the manifest without its verdict, and the
  sha256 of every archive member, signed with the plan key;
- the policy statement: environment, bundle id, the plan statement's digest (so the exact plan
  files) and the verdict, signed with the policy key.

`apply` verifies both with KMS under the environment's own key aliases (pinned, never a key named
by the bundle). The message is the statement's SHA-256 digest, sent as RAW (KMS hashes it again:
the emulator implements no DIGEST message type).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

PLAN = "platform-ci-plan-statement/1"
POLICY = "platform-ci-policy-statement/1"
ALGORITHM = "ECDSA_SHA_256"


class SignatureError(Exception):
    """A stage signature is missing, made with another key, or does not cover this content."""


@dataclass(frozen=True)
class Signature:
    purpose: str
    digest: str
    key_arn: str
    algorithm: str
    signature: str  # base64

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Signature:
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError) as exc:
            raise SignatureError(f"unreadable signature ({type(exc).__name__})") from exc


def digest(purpose: str, statement: dict[str, Any]) -> str:
    canonical = json.dumps({"purpose": purpose, **statement}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _message(purpose: str, digest_hex: str) -> bytes:
    return f"{purpose}:{digest_hex}".encode()


def sign(kms: Any, key_id: str, purpose: str, statement: dict[str, Any]) -> Signature:
    d = digest(purpose, statement)
    try:
        out = kms.sign(KeyId=key_id, Message=_message(purpose, d), MessageType="RAW", SigningAlgorithm=ALGORITHM)
    except Exception as exc:  # botocore ClientError: AccessDenied (not this stage's role), NotFound
        raise SignatureError(f"KMS refused to sign with {key_id}: {exc}") from exc
    return Signature(purpose, d, str(out["KeyId"]), ALGORITHM, base64.b64encode(out["Signature"]).decode())


def verify(kms: Any, key_id: str, purpose: str, statement: dict[str, Any], sig: Signature) -> str:
    """The statement's digest when SIG is KEY_ID's signature over exactly STATEMENT, else SignatureError."""
    d = digest(purpose, statement)
    if sig.purpose != purpose:
        raise SignatureError(f"a {sig.purpose!r} signature where a {purpose!r} one belongs")
    if sig.digest != d:
        raise SignatureError("the signed content differs from this bundle's content")
    if sig.algorithm != ALGORITHM:
        raise SignatureError(f"unexpected signing algorithm {sig.algorithm!r}")
    try:
        raw = base64.b64decode(sig.signature, validate=True)
        out = kms.verify(KeyId=key_id, Message=_message(purpose, d), MessageType="RAW", Signature=raw,
                         SigningAlgorithm=ALGORITHM)
    except ValueError as exc:
        raise SignatureError("unreadable signature bytes") from exc
    except Exception as exc:  # KMSInvalidSignatureException on AWS; AccessDenied; NotFound
        raise SignatureError(f"KMS did not verify it under {key_id}: {type(exc).__name__}") from exc
    if not out.get("SignatureValid"):  # the emulator answers False instead of raising
        raise SignatureError(f"not a signature of {key_id}")
    return d
