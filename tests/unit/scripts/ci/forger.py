"""A forger with Decrypt only: what every Terraform runner can do with the state key (tests only).

It opens a bundle with `kms.decrypt` alone, changes what it likes, and re-seals under the very
data key it recovered (same header, same encrypted data key, a fresh nonce), so the envelope is
indistinguishable from one the plan stage wrote. It has no access to the signing keys.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from scripts.ci import bundle, envelope
from scripts.ci.stacks import sha256_bytes


class DecryptOnly:
    """The forger's KMS: Decrypt, nothing else (a call to anything else fails the test)."""

    def __init__(self, kms: Any):
        self._kms = kms
        self.calls: list[str] = []

    def decrypt(self, **kwargs: Any) -> Any:
        self.calls.append("decrypt")
        return self._kms.decrypt(**kwargs)


def _members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            fh = tar.extractfile(m)
            out[m.name] = fh.read() if fh else b""
    return out


def _tar(members: dict[str, bytes], extra: Callable[[tarfile.TarFile], None] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return buf.getvalue()


def forge(bundle_dir: Path, kms: DecryptOnly, change: Callable[[dict[str, Any], dict[str, bytes]], None],
          extra: Callable[[tarfile.TarFile], None] | None = None) -> None:
    """Decrypt BUNDLE_DIR's data key, let CHANGE edit the manifest dict and members, re-seal with it.

    The manifest's sha256 fields are fixed up to match the members, and the plaintext copy is
    rewritten, so only what no Decrypt permission gives (the signatures) can tell."""
    env = json.loads((bundle_dir / bundle.SEALED).read_bytes())
    header = {k: env[k] for k in envelope.HEADER}
    encrypted_key = base64.b64decode(env["encrypted_data_key"])
    data_key = kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext=envelope._context(
        header["environment"], header["key_id"]))["Plaintext"]
    aad = envelope._aad(header, encrypted_key)
    members = _members(AESGCM(data_key).decrypt(base64.b64decode(env["nonce"]), base64.b64decode(env["ciphertext"]),
                                                aad))
    manifest = json.loads(members[bundle.MANIFEST])
    change(manifest, members)
    for s in manifest["stacks"]:
        for field, member in (("plan_sha256", bundle.plan_member(s["name"])),
                              ("plan_json_sha256", bundle.plan_json_member(s["name"]))):
            if member in members:
                s[field] = sha256_bytes(members[member])
    text = json.dumps(manifest, indent=2, sort_keys=True)
    members[bundle.MANIFEST] = text.encode()
    nonce = os.urandom(12)
    env["nonce"] = base64.b64encode(nonce).decode()
    env["ciphertext"] = base64.b64encode(AESGCM(data_key).encrypt(nonce, _tar(members, extra), aad)).decode()
    (bundle_dir / bundle.SEALED).write_text(json.dumps(env, sort_keys=True))
    (bundle_dir / bundle.MANIFEST).write_text(text + "\n")
