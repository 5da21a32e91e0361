"""Move an environment bootstrapped before ADR 0017 to the two-mount layout, with no gap.

The old layout kept platform internals on the workload mount: `<w>/migration-database` (DDL
logins, read through one shared `<env>-migration` policy), `platform-admin/database` (the vault's
CREATEROLE admin) and `rotation/...` (journals, locks, pending passwords). `vault bootstrap` moves
them to the internal mount in this order, each step leaving every workload able to read its own:

1. (plan_vault) the internal mount is enabled; *bridge* policies are written: each
   `<env>-<w>-migration` grants the new and the old path of its own login, each `<env>-<w>` still
   denies the old migration path; the migration roles switch to their own policy;
2. every old secret is copied to its new path (kept when the new path already exists: a rerun);
3. the old paths are destroyed (every version and the metadata: nothing to undelete);
4. the final policies (new paths only) are written and `<env>-migration` is deleted.

A rotation holding the old lock stops the upgrade before anything is written.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions

from app.contracts import names as contracts
from scripts.vault.plan import Action
from scripts.vault.spec import PolicySpec, VaultSpec, migration_policy, rule_blocks


@dataclass(frozen=True)
class Move:
    old_mount: str
    old_path: str
    new_mount: str
    new_path: str

    def __str__(self) -> str:
        return f"{self.old_mount}/{self.old_path} -> {self.new_mount}/{self.new_path}"


@dataclass(frozen=True)
class Upgrade:
    """`spec`: what plan_vault should write first (bridge policies); `actions`: steps 2-4."""

    spec: VaultSpec
    moves: tuple[Move, ...]
    actions: tuple[Action, ...]

    def fallback(self) -> dict[tuple[str, str], tuple[str, str]]:
        """new (mount, path) -> old: where a planning read finds a secret not yet moved."""
        return {(m.new_mount, m.new_path): (m.old_mount, m.old_path) for m in self.moves}


def _mount_exists(client: hvac.Client, mount: str) -> bool:
    mounts = client.sys.list_mounted_secrets_engines()
    data = mounts.get("data") if isinstance(mounts.get("data"), dict) else mounts
    return (data.get(mount + "/") or {}).get("type") == "kv"


def _exists(client: hvac.Client, mount: str, path: str) -> bool:
    try:
        client.secrets.kv.v2.read_secret_metadata(path, mount_point=mount)
    except hvac.exceptions.InvalidPath:
        return False
    return True


def _latest(client: hvac.Client, mount: str, path: str) -> dict[str, Any] | None:
    """The latest version's data; None when missing, deleted or destroyed (never moved on)."""
    try:
        answer = client.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=False)
    except hvac.exceptions.InvalidPath:
        return None
    body = answer.get("data") or {}
    if body.get("data") is None or (body.get("metadata") or {}).get("deletion_time"):
        return None
    return dict(body["data"])


def _tree(client: hvac.Client, mount: str, prefix: str) -> list[str]:
    try:
        keys = client.secrets.kv.v2.list_secrets(prefix, mount_point=mount)["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return []
    out = []
    for key in keys:
        path = f"{prefix}/{key.rstrip('/')}"
        out += _tree(client, mount, path) if key.endswith("/") else [path]
    return out


def find_moves(client: hvac.Client, spec: VaultSpec) -> list[Move]:
    """Every pre-0017 secret still on the workload mount (reads only)."""
    old, new = spec.kv_mount.path, spec.internal_mount.path
    if not _mount_exists(client, old):
        return []
    candidates = [
        Move(old, f"{w}/{contracts.LEGACY_MIGRATION_KV_SUFFIX}", new, contracts.migration_kv_path(w))
        for w in dict.fromkeys(login.workload for login in spec.database_logins)
    ]
    candidates.append(Move(old, contracts.LEGACY_ADMIN_KV_PATH, new, contracts.ADMIN_KV_PATH))
    candidates += [Move(old, p, new, p) for p in _tree(client, old, contracts.LEGACY_ROTATION_PREFIX)]
    return [m for m in candidates if _exists(client, m.old_mount, m.old_path)]


def _policy_exists(client: hvac.Client, name: str) -> bool:
    try:
        client.sys.read_acl_policy(name)
    except hvac.exceptions.InvalidPath:
        return False
    return True


def _held_lock(client: hvac.Client, spec: VaultSpec, moves: list[Move]) -> str | None:
    for m in moves:
        if m.old_path.startswith(f"{contracts.LEGACY_ROTATION_PREFIX}/") and m.old_path.endswith("/lock"):
            doc = _latest(client, m.old_mount, m.old_path) or {}
            if doc.get("held") and float(doc.get("expires_at", 0)) > time.time():
                return f"{m.old_mount}/{m.old_path} (held by {doc.get('owner')} for workload {doc.get('workload')!r})"
    return None


def plan_upgrade(client: hvac.Client, spec: VaultSpec) -> Upgrade:
    """Reads only; an Upgrade with no actions when the environment already has the new layout."""
    moves = find_moves(client, spec)
    legacy_policy = f"{spec.env}-migration"
    drop_legacy_policy = _policy_exists(client, legacy_policy)
    if not moves and not drop_legacy_policy:
        return Upgrade(spec, (), ())
    held = _held_lock(client, spec, moves)
    if held:
        refuse = Action(f"a rotation holds the pre-0017 lock {held}; finish or abort it, then bootstrap again", None)
        return Upgrade(spec, tuple(moves), (refuse,))
    moving = {m.old_path.split("/")[0] for m in moves if m.old_path.endswith(contracts.LEGACY_MIGRATION_KV_SUFFIX)}
    bridged = tuple(_bridge(spec, p, moving) for p in spec.policies)
    final = [p for p, b in zip(spec.policies, bridged, strict=True) if p.text != b.text]
    actions = [Action(f"copy {m} (pre-0017 layout)", _copy(client, m)) for m in moves]
    actions += [Action(f"destroy {m.old_mount}/{m.old_path} (moved)", _destroy(client, m)) for m in moves]
    for policy in final:
        actions.append(Action(f"write policy {policy.name} (the move is done: new paths only)", _write(client, policy)))
    if drop_legacy_policy:
        actions.append(
            Action(
                f"delete policy {legacy_policy} (shared by every migration role; replaced by one per workload)",
                lambda: client.sys.delete_acl_policy(legacy_policy),
            )
        )
    return Upgrade(dataclasses.replace(spec, policies=bridged), tuple(moves), tuple(actions))


def _bridge(spec: VaultSpec, policy: PolicySpec, moving: set[str]) -> PolicySpec:
    """The bridge version of a policy while `moving` workloads' migration logins move."""
    for w in moving:
        if policy.name == contracts.vault_migration_policy(spec.env, w):
            return migration_policy(spec.env, spec.internal_mount.path, w, legacy_mount=spec.kv_mount.path)
        if policy.name == contracts.vault_policy(spec.env, w):
            old = f"{spec.kv_mount.path}/{{}}/{w}/{contracts.LEGACY_MIGRATION_KV_SUFFIX}"
            deny = rule_blocks([(old.format(kind), ["deny"]) for kind in ("data", "metadata")])
            return PolicySpec(policy.name, policy.text + deny)
    return policy


def _write(client: hvac.Client, policy: PolicySpec) -> Any:
    return lambda: client.sys.create_or_update_acl_policy(policy.name, policy.text, pretty_print=False)


def _copy(client: hvac.Client, move: Move) -> Any:
    def run() -> None:
        if _exists(client, move.new_mount, move.new_path):
            return  # an earlier, interrupted upgrade copied it (or a newer value was written since)
        data = _latest(client, move.old_mount, move.old_path)
        if data is not None:  # a soft-deleted pending password is not moved: it is destroyed below
            client.secrets.kv.v2.create_or_update_secret(move.new_path, secret=data, mount_point=move.new_mount)

    return run


def _destroy(client: hvac.Client, move: Move) -> Any:
    return lambda: client.secrets.kv.v2.delete_metadata_and_all_versions(move.old_path, mount_point=move.old_mount)
