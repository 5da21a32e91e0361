"""Where a stack's Terraform state lives in S3, and reading its versions.

(Slightly over ~300 lines: locating, listing and reading versions are one concern - reads only.)

The location is derived exactly as `stacks.base` configures the S3 backend (bucket =
`env.state.bucket`, key = `state_key(env, stack)`), so the tools always look at the object
Terraform really uses. Reads only: nothing in this module writes to the bucket.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from app.config import ConfigError, load_environment
from app.contracts.names import NETWORK_STACK, STATE_SUFFIX, state_key
from app.schema import EnvironmentConfig
from scripts.awsclients import client
from scripts.state.errors import (
    AwsError,
    BucketMissing,
    ConfigurationError,
    InvalidState,
    UnknownStack,
    UnknownVersion,
)

__all__ = ["aws_client"]

log = logging.getLogger(__name__)

# What a failed AWS call raises; anything else is a bug and must not be reported as an AWS error.
AWS_ERRORS = (ClientError, BotoCoreError)

LOCK_SUFFIX = ".tflock"  # S3 native locking (use_lockfile): `<key>.tflock` exists while locked


@dataclass(frozen=True)
class StateLocation:
    """The S3 object holding one stack's state."""

    env_name: str
    stack: str
    bucket: str
    key: str

    @property
    def lock_key(self) -> str:
        return self.key + LOCK_SUFFIX

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class StateVersion:
    """One stored version of a state object (delete markers are never represented)."""

    version_id: str
    last_modified: datetime
    size: int
    is_latest: bool
    etag: str = ""


@dataclass(frozen=True)
class TerraformState:
    """The parts of a Terraform state document (format version 4) the tools work with."""

    serial: int
    lineage: str
    terraform_version: str
    format_version: int
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)




def resolve_environment(env_name: str) -> EnvironmentConfig:
    """Load the env config, turning config problems into a usage error (exit 64)."""
    try:
        return load_environment(env_name)
    except ConfigError as exc:
        raise ConfigurationError(str(exc)) from exc


def locate(env: EnvironmentConfig, stack: str) -> StateLocation:
    """The state object of `stack`; the stack must belong to `env` (`<env>-<concern>`).

    Refusing `prod-network` with `--env staging` prevents reading or restoring another
    environment's state through a typo, since both buckets may be reachable with one login.
    """
    prefix = f"{env.name}-"
    if not stack.startswith(prefix) or len(stack) == len(prefix):
        raise ConfigurationError(
            f"stack {stack!r} does not belong to environment {env.name!r}: "
            f"stack names are '<env>-<concern>', e.g. {env.stack_name(NETWORK_STACK)!r}"
        )
    return StateLocation(env.name, stack, env.state.bucket, state_key(env.name, stack))


def aws_client(env: EnvironmentConfig, service: str) -> Any:
    """A boto3 client for the env's region, or for the local emulator when `env` targets it."""
    return client(service, env)




def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class StateStore:
    """Read access to the state objects of one environment's bucket."""

    def __init__(self, s3: Any, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    @classmethod
    def for_environment(cls, env: EnvironmentConfig) -> StateStore:
        return cls(aws_client(env, "s3"), env.state.bucket)

    # --- bucket -------------------------------------------------------------------------------

    def check_bucket(self) -> None:
        """Fail with BucketMissing before anything else, so the message names the real cause."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchBucket"):
                raise BucketMissing(
                    f"state bucket {self.bucket!r} does not exist; bootstrap the environment's state "
                    "first (platformctl state bootstrap) or check the AWS account you are logged into"
                ) from exc
            raise AwsError(f"cannot access state bucket {self.bucket!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise AwsError(f"cannot reach S3 for bucket {self.bucket!r}: {exc}") from exc

    def versioning_enabled(self) -> bool:
        status = self._call("get_bucket_versioning", Bucket=self.bucket).get("Status")
        return status == "Enabled"

    # --- listing ------------------------------------------------------------------------------

    def list_versions(self, location: StateLocation) -> list[StateVersion]:
        """All versions of the state object, newest first; raises UnknownStack when there are none.

        Paginates because a busy stack accumulates hundreds of versions, and skips delete markers:
        they hold no state and cannot be read or restored.
        """
        self.check_bucket()
        versions = [v for v in self._iter_versions(location.key) if v is not None]
        if not versions:
            known = self.list_stacks(location.env_name)
            listed = ", ".join(known) if known else "none"
            raise UnknownStack(
                f"no state for stack {location.stack!r} at {location.url} "
                f"(stacks with state in environment {location.env_name!r}: {listed})",
                known,
            )
        versions.sort(key=lambda v: (v.is_latest, v.last_modified), reverse=True)
        log.debug("%s: %d versions", location.url, len(versions))
        return versions

    def _iter_versions(self, key: str) -> Iterator[StateVersion | None]:
        paginator = self.s3.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
                for item in page.get("Versions", []):
                    if item["Key"] != key:  # the prefix also matches `<key>.tflock` and others
                        continue
                    yield StateVersion(
                        version_id=str(item["VersionId"]),
                        last_modified=item["LastModified"],
                        size=int(item["Size"]),
                        is_latest=bool(item["IsLatest"]),
                        etag=str(item.get("ETag", "")).strip('"'),
                    )
        except AWS_ERRORS as exc:
            raise self._translate(exc, f"listing versions of s3://{self.bucket}/{key}") from exc

    def list_stacks(self, env_name: str, suffix: str = STATE_SUFFIX) -> list[str]:
        """Stacks of `env_name` that have a current state object under `<env>/` (with
        `suffix=STATE_SUFFIX + LOCK_SUFFIX`: the stacks whose S3 lock file exists, i.e. locked)."""
        paginator = self.s3.get_paginator("list_objects_v2")
        stacks: list[str] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{env_name}/"):
                for item in page.get("Contents", []):
                    name = str(item["Key"])[len(env_name) + 1 :]
                    if name.endswith(suffix) and "/" not in name:
                        stacks.append(name[: -len(suffix)])
        except AWS_ERRORS as exc:
            raise self._translate(exc, f"listing s3://{self.bucket}/{env_name}/") from exc
        return sorted(stacks)

    def describe_versions(
        self, location: StateLocation, limit: int | None = None
    ) -> list[tuple[StateVersion, TerraformState | None]]:
        """Newest versions with their parsed state (None for a version that is not valid state).

        Reads each version's body, so `limit` keeps a long history quick to list.
        """
        versions = self.list_versions(location)
        if limit:
            versions = versions[:limit]
        out: list[tuple[StateVersion, TerraformState | None]] = []
        for version in versions:
            try:
                out.append((version, self.read_state(location, version.version_id)))
            except InvalidState as exc:
                log.warning("%s", exc)
                out.append((version, None))
        return out

    def find_version(
        self, location: StateLocation, version_id: str, versions: list[StateVersion] | None = None
    ) -> StateVersion:
        """The version with this id, or UnknownVersion naming the newest ids to choose from."""
        versions = versions if versions is not None else self.list_versions(location)
        for version in versions:
            if version.version_id == version_id:
                return version
        newest = ", ".join(v.version_id for v in versions[:5])
        raise UnknownVersion(
            f"{version_id!r} is not a version of {location.url} "
            f"(newest: {newest}; see 'platformctl state versions {location.stack} --env {location.env_name}')"
        )

    # --- reading ------------------------------------------------------------------------------

    def read_bytes(self, location: StateLocation, version_id: str) -> bytes:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=location.key, VersionId=version_id)
            return bytes(response["Body"].read())
        except AWS_ERRORS as exc:
            if error_code(exc) in ("NoSuchVersion", "InvalidArgument", "NoSuchKey"):
                raise UnknownVersion(f"{version_id!r} is not a version of {location.url}") from exc
            raise self._translate(exc, f"reading {location.url} version {version_id}") from exc

    def read_state(self, location: StateLocation, version_id: str) -> TerraformState:
        return parse_state(self.read_bytes(location, version_id), f"{location.url}@{version_id}")

    def head(self, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        """Object metadata, or None when the key (or its latest version) does not exist."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            return dict(self.s3.head_object(**kwargs))
        except AWS_ERRORS as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._translate(exc, f"reading s3://{self.bucket}/{key}") from exc

    def read_key(self, key: str) -> bytes | None:
        """Current content of any key in the bucket, or None when it does not exist."""
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except AWS_ERRORS as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._translate(exc, f"reading s3://{self.bucket}/{key}") from exc

    # --- helpers ------------------------------------------------------------------------------

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(getattr(self.s3, method)(**kwargs))
        except AWS_ERRORS as exc:
            raise self._translate(exc, f"{method} on bucket {self.bucket!r}") from exc

    def _translate(self, exc: Exception, doing: str) -> Exception:
        if error_code(exc) == "NoSuchBucket":
            return BucketMissing(f"state bucket {self.bucket!r} does not exist ({doing})")
        return AwsError(f"{doing} failed: {exc}")


def parse_state(data: bytes, source: str = "state") -> TerraformState:
    """Parse a Terraform state document; InvalidState when it is not one (e.g. a foreign object)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidState(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or "serial" not in doc or "lineage" not in doc:
        raise InvalidState(f"{source} is not a Terraform state document (no serial/lineage)")
    fmt = doc.get("version")
    if fmt != 4:
        raise InvalidState(f"{source} has state format version {fmt!r}; only version 4 is supported")
    try:
        serial = int(doc["serial"])
    except (TypeError, ValueError) as exc:
        raise InvalidState(f"{source} has a non-numeric serial {doc['serial']!r}") from exc
    resources = doc.get("resources") or []
    outputs = doc.get("outputs") or {}
    if not isinstance(resources, list) or not isinstance(outputs, dict):
        raise InvalidState(f"{source} has malformed resources or outputs")
    return TerraformState(
        serial=serial,
        lineage=str(doc["lineage"]),
        terraform_version=str(doc.get("terraform_version", "")),
        format_version=4,
        resources=resources,
        outputs=outputs,
        document=doc,
    )
