"""The vault KV v2 engine as a small check-and-set store (hvac), for journals, locks and secrets.

Every write names the version it expects (`cas`): 0 for "must not exist yet". A lost race raises
`CasConflict` instead of overwriting someone else's record. Error messages name paths, never values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions

from scripts.runtime.vault_client import vault_errors


class CasConflict(Exception):
    """The record changed since it was read (another process wrote it)."""


@dataclass(frozen=True)
class Versioned:
    data: dict[str, Any]
    version: int


class KvStore:
    def __init__(self, client: hvac.Client, mount: str) -> None:
        self.client = client
        self.mount = mount.strip("/")
        self.address = str(getattr(client, "url", "vault"))

    def read(self, path: str) -> Versioned | None:
        """The current version, or None when the path was never written or its last version is deleted."""
        return self.read_versioned(path)[0]

    def read_versioned(self, path: str) -> tuple[Versioned | None, int]:
        """(current data or None, latest version number) from ONE request: the number is the `cas`
        for a write that must fail if anyone wrote after this read (0: never written)."""
        try:
            with vault_errors(self.address, f"reading {self.mount}/{path}"):
                resp = self.client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self.mount, raise_on_deleted_version=False
                )
        except Exception as exc:
            if isinstance(exc.__cause__, hvac.exceptions.InvalidPath):
                return None, 0
            raise
        body = resp.get("data") or {}
        meta = body.get("metadata") or {}
        version = int(meta.get("version") or 0)
        if body.get("data") is None or meta.get("deletion_time"):
            return None, version
        return Versioned(dict(body["data"]), version), version

    def current_version(self, path: str) -> int:
        """The latest version number (0 when never written), also when that version is deleted."""
        try:
            with vault_errors(self.address, f"reading metadata of {self.mount}/{path}"):
                meta = self.client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=self.mount)
        except Exception as exc:
            if isinstance(exc.__cause__, hvac.exceptions.InvalidPath):
                return 0
            raise
        return int(meta["data"].get("current_version") or 0)

    def write(self, path: str, data: dict[str, Any], cas: int) -> int:
        """Write a new version if the current one is `cas`; returns the new version."""
        try:
            with vault_errors(self.address, f"writing {self.mount}/{path}"):
                resp = self.client.secrets.kv.v2.create_or_update_secret(
                    path=path, secret=data, cas=cas, mount_point=self.mount
                )
        except Exception as exc:
            cause = exc.__cause__
            if isinstance(cause, hvac.exceptions.InvalidRequest) and "check-and-set" in str(cause):
                raise CasConflict(f"{self.mount}/{path} changed since it was read (expected version {cas})") from None
            raise
        return int(resp["data"]["version"])

    def on(self, mount: str) -> KvStore:
        """The same client on another mount (the internal mount next to the workload mount)."""
        return KvStore(self.client, mount)

    def destroy(self, path: str) -> None:
        """Destroy every version still holding data (a soft delete could be undone with `undelete`).

        The metadata stays, so the version counter - the CAS of the next write - goes on."""
        try:
            with vault_errors(self.address, f"reading metadata of {self.mount}/{path}"):
                meta = self.client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=self.mount)
        except Exception as exc:
            if isinstance(exc.__cause__, hvac.exceptions.InvalidPath):
                return
            raise
        versions = [int(v) for v, m in (meta["data"].get("versions") or {}).items() if not m.get("destroyed")]
        if versions:
            with vault_errors(self.address, f"destroying {self.mount}/{path}"):
                self.client.secrets.kv.v2.destroy_secret_versions(path=path, versions=versions, mount_point=self.mount)
