"""Which migrations already succeeded, so a rollback to an earlier image skips its migration.

Rolling back means deploying the previous image again. Its migration task would run the old
migration tool against a database that is already ahead ("Can't locate revision ..."), fail the
gate, and block the rollback exactly when it is needed. Because migrations are expand/contract
(docs/migrations.md), the previous image works on the newer schema; what it must not do is try
to migrate it. So the runner records every migration that succeeded, keyed by what decides the
migration — the migration container's image and command — and a later run with a recorded key
skips the task (exit 0, with a message saying so). See docs/adr/0014-rollback-to-a-previous-image.md.

The record lives next to the environment's Terraform state, in its state bucket (versioned,
KMS-encrypted, reachable by everyone who can deploy): `_platform/migrations/<service>/<key>.json`.
The leading underscore keeps it apart from the `<env>/<stack>` state objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

RECORD_PREFIX = "_platform/migrations"


@dataclass(frozen=True)
class MigrationFingerprint:
    """What makes two migration runs the same migration: the image and the command it runs."""

    image: str
    command: tuple[str, ...]

    @classmethod
    def of(cls, image: str, command: Sequence[str] | None) -> MigrationFingerprint:
        return cls(image, tuple(command or ()))

    def key(self) -> str:
        return hashlib.sha256(json.dumps([self.image, list(self.command)]).encode()).hexdigest()[:40]


# Not part of what a checkout migrates: caches, virtualenvs, VCS metadata, dot-files.
_UNHASHED_DIRS = frozenset({"__pycache__", "node_modules", "venv"})


def tree_digest(directory: Path) -> str:
    """sha256 over the relative paths and contents of the files below `directory` (caches,
    virtualenvs and dot-entries left out): the local runner's equivalent of an image digest."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _UNHASHED_DIRS)
        for name in sorted(files):
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            path = Path(root) / name
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            try:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            except OSError:  # unreadable (a dangling link): still a difference worth a rerun
                digest.update(b"\0unreadable\0")
    return digest.hexdigest()


def checkout_fingerprint(directory: Path, label: str, command: Sequence[str]) -> MigrationFingerprint:
    """The local runner's fingerprint: it runs the checkout's code, not an image, so the checkout's
    content takes the image's place (`checkout:<label>@sha256:<digest>`, like a pinned image)."""
    return MigrationFingerprint.of(f"checkout:{label}@sha256:{tree_digest(directory)}", command)


def skipped_reason(subject: str, where: str, done: Mapping[str, Any]) -> str:
    """What the runners say when they skip an already recorded migration (ECS and local alike)."""
    return (
        f"{subject} with this migration command already migrated successfully "
        f"({where}, {done.get('succeeded_at', '?')}); the database is at or ahead "
        "of what it expects, so its migration is skipped (a rollback). Pass --always-migrate to run it anyway."
    )


class MigrationHistory(Protocol):
    def find(self, service: str, fingerprint: MigrationFingerprint) -> dict[str, Any] | None: ...

    def record(self, service: str, fingerprint: MigrationFingerprint, **info: Any) -> None: ...


def record_document(fingerprint: MigrationFingerprint, **info: Any) -> dict[str, Any]:
    return {
        "image": fingerprint.image,
        "command": list(fingerprint.command),
        "succeeded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **info,
    }


class S3MigrationHistory:
    """The record in the environment's state bucket. Read errors mean "not recorded": the
    migration then runs, which is the safe direction (at worst the gate fails as before)."""

    def __init__(self, s3: Any, bucket: str, prefix: str = RECORD_PREFIX):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def object_key(self, service: str, fingerprint: MigrationFingerprint) -> str:
        return f"{self.prefix}/{service}/{fingerprint.key()}.json"

    def find(self, service: str, fingerprint: MigrationFingerprint) -> dict[str, Any] | None:
        key = self.object_key(service, fingerprint)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        except Exception as exc:  # any failure: run the migration rather than skip it
            log.warning(
                "cannot read the migration record s3://%s/%s (%s); the migration will run", self.bucket, key, exc
            )
            return None
        try:
            found: dict[str, Any] = json.loads(body)
        except ValueError:
            log.warning("ignoring an unreadable migration record s3://%s/%s", self.bucket, key)
            return None
        same = found.get("image") == fingerprint.image and found.get("command") == list(fingerprint.command)
        return found if same else None

    def record(self, service: str, fingerprint: MigrationFingerprint, **info: Any) -> None:
        key = self.object_key(service, fingerprint)
        body = json.dumps(record_document(fingerprint, **info), indent=2).encode()
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except Exception as exc:  # the migration succeeded; a lost record only costs a skip
            log.warning(
                "the migration succeeded but could not be recorded at s3://%s/%s (%s); a rollback to this "
                "image will run its migration again",
                self.bucket,
                key,
                exc,
            )
