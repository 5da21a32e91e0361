"""Who holds an environment's state locks: asked *before* a writer starts, not after it failed.

Terraform only reports a held lock when it tries to take it, i.e. in the middle of a deploy that
has already applied the stacks before. `platformctl deploy` asks here first and refuses with the
holder named (exit LOCKED). The reading is the state tools' own (`restore.read_lock`: the S3 lock
file `<key>.tflock`, then the optional DynamoDB lock table), so a restore and a deploy agree on
what "locked" means; nothing here takes or breaks a lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.schema import EnvironmentConfig
from scripts.state.errors import BucketMissing, StateToolError
from scripts.state.restore import DynamoLockTable, LockInfo, lock_table_for, read_lock
from scripts.state.store import LOCK_SUFFIX, STATE_SUFFIX, StateLocation, StateStore, locate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldLock:
    location: StateLocation
    lock: LockInfo

    def describe(self) -> str:
        return f"{self.location.stack}: lock {self.lock.describe()}; lock object {self.location.url}{LOCK_SUFFIX}"


def held_locks(
    env: EnvironmentConfig, store: StateStore | None = None, dynamo: DynamoLockTable | None = None
) -> list[HeldLock]:
    """Every stack of `env` whose state is locked now (empty before the first bootstrap: no bucket)."""
    store = store or StateStore.for_environment(env)
    try:
        store.check_bucket()
    except BucketMissing:
        return []
    dynamo = dynamo if dynamo is not None else lock_table_for(env)
    # A first apply holds a lock before its state object exists: list the lock files too.
    stacks = set(store.list_stacks(env.name)) | set(store.list_stacks(env.name, STATE_SUFFIX + LOCK_SUFFIX))
    held = []
    for stack in sorted(stacks):
        location = locate(env, stack)
        lock = read_lock(store, location, dynamo)
        if lock is not None:
            held.append(HeldLock(location, lock))
    return held


def locked_report(env_name: str, held: list[HeldLock]) -> str:
    """The refusal: who holds which lock since when, and what to do next."""
    lines = [f"another run holds the state lock of environment {env_name}; nothing was changed."]
    lines += [f"  {h.describe()}" for h in held]
    stack = held[0].location.stack
    lines.append(
        "Wait for that deploy or CI apply to finish, then deploy again. If it crashed and left the lock "
        f"behind, release it with `terraform force-unlock <lock id>` in cdktf.out/stacks/{stack} "
        "(after checking that nothing is running)."
    )
    return "\n".join(lines)


def check_unlocked(env: EnvironmentConfig) -> list[HeldLock]:
    """`held_locks`, with an unreadable bucket logged, not fatal: Terraform's own lock still guards."""
    try:
        return held_locks(env)
    except StateToolError as exc:
        log.warning("could not check the state locks of %s first (%s); Terraform's lock still applies", env.name, exc)
        return []
