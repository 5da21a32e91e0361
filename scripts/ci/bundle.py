"""A plan bundle on disk: one sealed file with every plan, plus plaintext files people may read.

    <bundle>/bundle.enc      sealed tar: manifest.json, stacks/<name>/plan.tfplan, stacks/<name>/plan.json
    <bundle>/manifest.json   copy of the manifest (hashes, serials, commit; no secret); `apply` compares it
    <bundle>/summary.md|json masked summary (scripts/ci/summary.py)
    <bundle>/applied.json    written by `apply` (a courtesy: the state check is what refuses a replay)

Plan files and plan JSON hold state and configuration in plaintext, so they exist unencrypted only
in a private temporary directory while a stage runs (`unsealed`).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scripts.ci.envelope import EnvelopeError, open_sealed, seal
from scripts.ci.exitcodes import ERROR, STALE, CiError
from scripts.ci.manifest import Manifest

SEALED = "bundle.enc"
MANIFEST = "manifest.json"
APPLIED = "applied.json"


def plan_member(stack: str) -> str:
    return f"stacks/{stack}/plan.tfplan"


def plan_json_member(stack: str) -> str:
    return f"stacks/{stack}/plan.json"


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def _untar(data: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            if fh is not None:
                out[member.name] = fh.read()
    return out


def write(bundle_dir: Path, manifest: Manifest, files: dict[str, bytes], *, kms: Any, key_id: str) -> None:
    bundle_dir.mkdir(parents=True, exist_ok=True)
    payload = _tar({**files, MANIFEST: manifest.to_json().encode()})
    sealed = seal(payload, kms=kms, key_id=key_id, environment=manifest.environment)
    tmp = bundle_dir / f".{SEALED}.tmp"
    tmp.write_bytes(sealed)
    tmp.replace(bundle_dir / SEALED)
    (bundle_dir / MANIFEST).write_text(manifest.to_json() + "\n")


def read(bundle_dir: Path, *, kms: Any, environment: str) -> tuple[Manifest, dict[str, bytes]]:
    """Open and authenticate the bundle; a plaintext manifest that disagrees is tampering (exit 4)."""
    sealed = bundle_dir / SEALED
    if not sealed.is_file():
        raise CiError(ERROR, f"no plan bundle at {sealed}: run `platformctl ci plan` first")
    try:
        files = _untar(open_sealed(sealed.read_bytes(), kms=kms, environment=environment))
        manifest = Manifest.from_json(files.pop(MANIFEST).decode())
    except EnvelopeError as exc:
        raise CiError(STALE, f"refused: {exc}") from exc
    except (KeyError, ValueError, TypeError, tarfile.TarError) as exc:
        raise CiError(STALE, f"refused: the sealed bundle holds no valid manifest ({exc})") from exc
    copy = bundle_dir / MANIFEST
    if copy.is_file():
        try:
            readable = Manifest.from_json(copy.read_text())
        except (ValueError, KeyError, TypeError) as exc:
            raise CiError(STALE, f"refused: {copy} is not a valid manifest ({exc}); it was edited") from exc
        if readable != manifest:
            raise CiError(STALE, f"refused: {copy} differs from the sealed manifest: the bundle was edited")
    return manifest, files


@contextmanager
def unsealed(files: dict[str, bytes]) -> Iterator[Path]:
    """Write FILES into a private (0700) temporary directory, removed on exit whatever happens."""
    root = Path(tempfile.mkdtemp(prefix="platform-ci-"))
    try:
        os.chmod(root, 0o700)
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
