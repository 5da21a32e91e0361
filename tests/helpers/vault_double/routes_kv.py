"""KV version 2 endpoints of the Vault double (`<mount>/data/...`, `<mount>/metadata/...`)."""

from __future__ import annotations

from typing import Any

from tests.helpers.vault_double.request import NO_CONTENT, Request
from tests.helpers.vault_double.state import ApiError, KvEntry, KvVersion, now_iso


def _version_meta(number: int, v: KvVersion) -> dict[str, Any]:
    return {"version": number, "created_time": v.created_time, "deletion_time": v.deletion_time,
            "destroyed": False, "custom_metadata": None}


def handle(store: dict[str, KvEntry], req: Request, rest: str) -> dict[str, Any] | None:
    kind, _, path = rest.partition("/")
    if kind == "data":
        return _data(store, req, path)
    if kind == "metadata":
        return _metadata(store, req, path)
    raise ApiError(404, f"no handler for route {req.path!r}. route entry not found.")


def _data(store: dict[str, KvEntry], req: Request, path: str) -> dict[str, Any] | None:
    if not path:
        raise ApiError(404)
    entry = store.get(path)
    if req.method == "GET":
        if entry is None:
            raise ApiError(404)
        number = int(req.query.get("version") or 0) or entry.current_version
        version = entry.versions.get(number)
        if version is None or version.deletion_time:
            raise ApiError(404)
        return {"data": {"data": dict(version.data), "metadata": _version_meta(number, version)}}
    if req.is_write:
        data = req.body.get("data")
        if not isinstance(data, dict):
            raise ApiError(400, "no data provided")
        cas = (req.body.get("options") or {}).get("cas")
        current = entry.current_version if entry else 0
        if cas is not None and cas != current:
            raise ApiError(400, "check-and-set parameter did not match the current version")
        if entry is None:
            entry = store[path] = KvEntry()
        number = current + 1
        entry.versions[number] = KvVersion(dict(data), now_iso())
        entry.updated_time = now_iso()
        return {"data": _version_meta(number, entry.versions[number])}
    if req.method == "DELETE":
        if entry and entry.versions:
            entry.versions[entry.current_version].deletion_time = now_iso()
        return NO_CONTENT
    raise ApiError(405, "unsupported operation")


def _metadata(store: dict[str, KvEntry], req: Request, path: str) -> dict[str, Any] | None:
    if req.method == "LIST":
        prefix = path.rstrip("/") + "/" if path.strip("/") else ""
        keys = sorted({_child(p[len(prefix):]) for p in store if p.startswith(prefix)})
        if not keys:
            raise ApiError(404)
        return {"data": {"keys": keys}}
    entry = store.get(path)
    if req.method == "GET":
        if entry is None:
            raise ApiError(404)
        return {"data": {
            "current_version": entry.current_version, "oldest_version": min(entry.versions, default=0),
            "created_time": entry.created_time, "updated_time": entry.updated_time,
            "max_versions": 0, "cas_required": False, "delete_version_after": "0s", "custom_metadata": None,
            "versions": {str(n): _version_meta(n, v) for n, v in entry.versions.items()},
        }}
    if req.method == "DELETE":
        store.pop(path, None)
        return NO_CONTENT
    raise ApiError(405, "unsupported operation")


def _child(suffix: str) -> str:
    head, sep, _ = suffix.partition("/")
    return head + sep
