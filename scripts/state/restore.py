"""Make an older state version current again, without deleting any version.

(Over ~300 lines: the restore is one transaction - lock, conditional write, verify, unlock - and
its steps read best in one place; reading versions lives in store.py, masking in scrub.py.)

Why it works this way:
- The old version is written as a *new* version (never by deleting newer ones), so a restore
  is itself undoable with another restore and the audit trail stays complete.
- Its serial becomes current + 1: Terraform refuses to replace state with a lower serial of
  the same lineage, and every later run must see the restored state as the newest.
- Lineage is kept; a version from another lineage is a different state history (e.g. before
  a re-bootstrap) and is only restored with an explicit `force_lineage`.
- The restore takes the stack's lock exactly like Terraform does (`<key>.tflock`, created only
  if absent), so it cannot interleave with an apply; an existing lock is reported, not broken.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.schema import EnvironmentConfig
from scripts.state.errors import AwsError, LockHeld, RestoreRefused
from scripts.state.store import (
    AWS_ERRORS,
    StateLocation,
    StateStore,
    StateVersion,
    TerraformState,
    aws_client,
    error_code,
)

log = logging.getLogger(__name__)

RESTORE_OPERATION = "platformctl state restore"
RESTORED_FROM_METADATA = "platform-restored-from"


@dataclass(frozen=True)
class LockInfo:
    """Terraform's lock info (the JSON in `<key>.tflock` or the DynamoDB lock item)."""

    id: str = ""
    operation: str = ""
    who: str = ""
    info: str = ""
    created: str = ""
    version: str = ""
    path: str = ""

    @classmethod
    def parse(cls, data: bytes | str) -> LockInfo:
        """Tolerant: a lock we cannot parse is still a held lock, just with unknown details."""
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return cls(info="(lock object is not Terraform lock JSON)")
        if not isinstance(doc, dict):
            return cls(info="(lock object is not Terraform lock JSON)")
        return cls(
            id=str(doc.get("ID", "")),
            operation=str(doc.get("Operation", "")),
            who=str(doc.get("Who", "")),
            info=str(doc.get("Info", "")),
            created=str(doc.get("Created", "")),
            version=str(doc.get("Version", "")),
            path=str(doc.get("Path", "")),
        )

    def describe(self) -> str:
        parts = [f"held by {self.who or 'unknown'}"]
        if self.operation:
            parts.append(f"for {self.operation}")
        if self.created:
            parts.append(f"since {self.created}")
        if self.id:
            parts.append(f"(lock id {self.id})")
        text = " ".join(parts)
        return f"{text}; info: {self.info}" if self.info else text

    def to_json(self) -> str:
        return json.dumps(
            {
                "ID": self.id,
                "Operation": self.operation,
                "Info": self.info,
                "Who": self.who,
                "Version": self.version,
                "Created": self.created,
                "Path": self.path,
            }
        )


def locked_message(location: StateLocation, lock: LockInfo) -> str:
    return (
        f"{location.stack} is locked, refusing to restore: lock {lock.describe()}. "
        "Wait for that run to finish; if it crashed, release it with 'terraform force-unlock <lock id>'"
    )


def new_lock_info(location: StateLocation, source_version: str) -> LockInfo:
    return LockInfo(
        id=str(uuid.uuid4()),
        operation=RESTORE_OPERATION,
        who=f"{getpass.getuser()}@{socket.gethostname()}",
        info=f"restoring version {source_version}",
        created=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        version="platformctl",
        path=f"{location.bucket}/{location.key}",
    )


class DynamoLockTable:
    """The optional DynamoDB lock table (Terraform < 1.10 compatibility, `dynamodb_lock_table`).

    When it is configured Terraform also keeps an MD5 digest of the state there and refuses a
    state object whose content does not match, so a restore must update the digest as well.
    """

    def __init__(self, client: Any, table: str):
        self.client = client
        self.table = table

    def lock_id(self, location: StateLocation) -> str:
        return f"{location.bucket}/{location.key}"

    def held(self, location: StateLocation) -> LockInfo | None:
        item = self._call("get_item", Key={"LockID": {"S": self.lock_id(location)}}, ConsistentRead=True)
        if "Item" not in item:
            return None
        return LockInfo.parse(item["Item"].get("Info", {}).get("S", ""))

    def acquire(self, location: StateLocation, lock: LockInfo) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"LockID": {"S": self.lock_id(location)}, "Info": {"S": lock.to_json()}},
                ConditionExpression="attribute_not_exists(LockID)",
            )
        except AWS_ERRORS as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                holder = self.held(location) or LockInfo()
                raise LockHeld(locked_message(location, holder)) from exc
            raise AwsError(f"locking {self.lock_id(location)} in {self.table}: {exc}") from exc

    def release(self, location: StateLocation, lock: LockInfo) -> None:
        current = self.held(location)
        if current is not None and current.id == lock.id:
            self._call("delete_item", Key={"LockID": {"S": self.lock_id(location)}})

    def write_digest(self, location: StateLocation, body: bytes) -> None:
        self._call(
            "put_item",
            Item={
                "LockID": {"S": self.lock_id(location) + "-md5"},
                "Digest": {"S": hashlib.md5(body, usedforsecurity=False).hexdigest()},
            },
        )

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(getattr(self.client, method)(TableName=self.table, **kwargs))
        except AWS_ERRORS as exc:
            raise AwsError(f"{method} on lock table {self.table}: {exc}") from exc


def lock_table_for(env: EnvironmentConfig) -> DynamoLockTable | None:
    """The env's DynamoDB lock table, when it has one configured."""
    name = env.lock_table_name
    return DynamoLockTable(aws_client(env, "dynamodb"), name) if name else None


@dataclass(frozen=True)
class RestorePlan:
    """What a restore would do; computed (and checked) before asking for confirmation."""

    location: StateLocation
    source: StateVersion
    source_state: TerraformState
    current: StateVersion | None  # None when the latest version is a delete marker
    current_state: TerraformState | None
    new_serial: int
    lineage_differs: bool

    @property
    def already_current(self) -> bool:
        return self.current is not None and self.current.version_id == self.source.version_id


@dataclass(frozen=True)
class RestoreResult:
    location: StateLocation
    restored_from: str
    source_serial: int
    previous_version: str | None
    previous_serial: int | None
    new_version: str
    new_serial: int


def read_lock(
    store: StateStore, location: StateLocation, dynamo: DynamoLockTable | None = None
) -> LockInfo | None:
    """The lock holder of the stack, if the stack is locked (S3 lockfile or DynamoDB)."""
    data = store.read_key(location.lock_key)
    if data is not None:
        return LockInfo.parse(data)
    return dynamo.held(location) if dynamo is not None else None


def plan_restore(
    store: StateStore,
    location: StateLocation,
    version_id: str,
    force_lineage: bool = False,
    dynamo: DynamoLockTable | None = None,
) -> RestorePlan:
    """Check that restoring `version_id` is possible and safe now; raise what stands in the way."""
    versions = store.list_versions(location)
    source = store.find_version(location, version_id, versions)
    if not store.versioning_enabled():
        raise RestoreRefused(
            f"versioning is not enabled on bucket {location.bucket!r}: writing would overwrite the "
            "current state with no way back; enable versioning first"
        )
    lock = read_lock(store, location, dynamo)
    if lock is not None:
        raise LockHeld(locked_message(location, lock))
    source_state = store.read_state(location, source.version_id)
    current = versions[0] if versions[0].is_latest else None
    # With the state object deleted (latest = delete marker), compare with the newest version.
    reference = versions[0]
    reference_state = store.read_state(location, reference.version_id)
    lineage_differs = reference_state.lineage != source_state.lineage
    if lineage_differs and not force_lineage:
        raise RestoreRefused(
            f"version {version_id} has lineage {source_state.lineage}, but the current state has "
            f"lineage {reference_state.lineage}: it belongs to another state history. "
            "Restore it anyway with --force-lineage"
        )
    new_serial = max(reference_state.serial, source_state.serial) + 1
    return RestorePlan(
        location=location,
        source=source,
        source_state=source_state,
        current=current,
        current_state=reference_state if current is not None else None,
        new_serial=new_serial,
        lineage_differs=lineage_differs,
    )


def restored_body(plan: RestorePlan) -> bytes:
    """The source version's document with the new serial, formatted like Terraform writes it."""
    document = dict(plan.source_state.document)
    document["serial"] = plan.new_serial
    return (json.dumps(document, indent=2) + "\n").encode()


def execute_restore(
    store: StateStore, plan: RestorePlan, dynamo: DynamoLockTable | None = None
) -> RestoreResult:
    """Write the planned version as the new current version while holding the stack's lock."""
    location = plan.location
    lock = new_lock_info(location, plan.source.version_id)
    with _held_lock(store, location, lock, dynamo):
        latest = store.list_versions(location)[0]
        expected = plan.current.version_id if plan.current else None
        if (latest.version_id if latest.is_latest else None) != expected:
            raise RestoreRefused(
                f"{location.stack}: the state changed while preparing the restore "
                f"(current version is now {latest.version_id}); nothing was written, run it again"
            )
        body = restored_body(plan)
        kwargs: dict[str, Any] = {
            "Bucket": location.bucket,
            "Key": location.key,
            "Body": body,
            "ContentType": "application/json",
            "ServerSideEncryption": "aws:kms",
            "Metadata": {RESTORED_FROM_METADATA: plan.source.version_id},
        }
        kms_key = _kms_key_for(store, location, plan.current)
        if kms_key:
            kwargs["SSEKMSKeyId"] = kms_key
        if plan.current is not None and plan.current.etag:
            kwargs["IfMatch"] = f'"{plan.current.etag}"'  # a writer that ignores locks loses no data
        try:
            response = store.s3.put_object(**kwargs)
        except AWS_ERRORS as exc:
            if error_code(exc) == "PreconditionFailed":
                raise RestoreRefused(
                    f"{location.stack}: the state object changed during the restore; nothing was written"
                ) from exc
            raise AwsError(f"writing {location.url}: {exc}") from exc
        new_version = str(response.get("VersionId", ""))
        if dynamo is not None:
            try:
                dynamo.write_digest(location, body)
            except AwsError as exc:
                raise AwsError(
                    f"the restored state was written as version {new_version}, but updating its digest "
                    f"in {dynamo.table} failed, so Terraform will report a checksum mismatch until the "
                    f"item {dynamo.lock_id(location)}-md5 holds the MD5 of that version: {exc}"
                ) from exc
    log.info(
        "restored %s: version %s (serial %d) written as %s (serial %d)",
        location.url, plan.source.version_id, plan.source_state.serial, new_version, plan.new_serial,
    )
    return RestoreResult(
        location=location,
        restored_from=plan.source.version_id,
        source_serial=plan.source_state.serial,
        previous_version=plan.current.version_id if plan.current else None,
        previous_serial=plan.current_state.serial if plan.current_state else None,
        new_version=new_version,
        new_serial=plan.new_serial,
    )


@contextmanager
def _held_lock(
    store: StateStore, location: StateLocation, lock: LockInfo, dynamo: DynamoLockTable | None
) -> Iterator[None]:
    """Acquire the stack's lock(s) like Terraform (create-if-absent); always release our own."""
    try:
        store.s3.put_object(
            Bucket=location.bucket,
            Key=location.lock_key,
            Body=lock.to_json().encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except AWS_ERRORS as exc:
        if error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
            holder = read_lock(store, location) or LockInfo()
            raise LockHeld(locked_message(location, holder)) from exc
        raise AwsError(f"locking {location.url}: {exc}") from exc
    log.debug("acquired lock %s (%s)", lock.id, location.lock_key)
    try:
        if dynamo is not None:
            dynamo.acquire(location, lock)
        try:
            yield
        finally:
            if dynamo is not None:
                dynamo.release(location, lock)
    finally:
        _release_s3_lock(store, location, lock)


def _release_s3_lock(store: StateStore, location: StateLocation, lock: LockInfo) -> None:
    data = store.read_key(location.lock_key)
    if data is None or LockInfo.parse(data).id != lock.id:
        log.warning("lock %s on %s was no longer ours; left it alone", lock.id, location.lock_key)
        return
    try:
        store.s3.delete_object(Bucket=location.bucket, Key=location.lock_key)
    except AWS_ERRORS as exc:
        raise AwsError(
            f"restore finished but releasing the lock failed; remove s3://{location.bucket}/"
            f"{location.lock_key} (lock id {lock.id}) once you checked the state: {exc}"
        ) from exc
    log.debug("released lock %s", lock.id)


def _kms_key_for(store: StateStore, location: StateLocation, current: StateVersion | None) -> str | None:
    """The KMS key the state is encrypted with today, else the bucket's default KMS key.

    Passing only ServerSideEncryption=aws:kms would fall back to the AWS-managed `aws/s3` key,
    not the bucket's customer key, and readers with grants only on the latter would break.
    """
    if current is not None:
        head = store.head(location.key, current.version_id) or {}
        if head.get("SSEKMSKeyId"):
            return str(head["SSEKMSKeyId"])
    try:
        config = store.s3.get_bucket_encryption(Bucket=location.bucket)
    except AWS_ERRORS as exc:
        log.debug("no default encryption readable on %s: %s", location.bucket, exc)
        return None
    for rule in config.get("ServerSideEncryptionConfiguration", {}).get("Rules", []):
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
            return str(default["KMSMasterKeyID"])
    return None
