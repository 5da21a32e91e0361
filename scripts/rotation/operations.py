"""What `platformctl secrets rotate` does for one workload: rotate / resume / abort / status.

Each returns an `Outcome` (exit code + one operator-facing message). Every failure is turned into
one of two answers: "stopped, the credentials tasks use still log in" (exit 4, resumable) or
"failed" (exit 1) when that check itself fails — the one case that needs a human at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from scripts.rotation import pgslots
from scripts.rotation.engine import Rotator, StopSafely
from scripts.rotation.journal import EnvLock, LockHeld
from scripts.rotation.kvstore import CasConflict
from scripts.rotation.model import ExitCode, Journal, Step
from scripts.vault.client import VaultError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    code: ExitCode
    message: str


def _lock(r: Rotator, ttl: float | None) -> EnvLock:
    lock = EnvLock(r.internal, r.target.lock_path, r.target.workload)
    if ttl is not None:
        lock.ttl = ttl
    return lock


def _current_logs_in(r: Rotator) -> list[str]:
    """The logins whose published credential (what a task starting now reads) does NOT log in."""
    bad = []
    for login in r.target.logins:
        found = r.kv_of(login).read(login.kv_path)
        if found is None or not r._logs_in(found.data):
            bad.append(f"{r.kv_of(login).mount}/{login.kv_path}")
    return bad


def _stopped(r: Rotator, journal: Journal | None, why: str) -> Outcome:
    bad = _current_logs_in(r)
    where = f" at step {journal.step.value}" if journal else ""
    if bad:
        return Outcome(
            ExitCode.FAILED,
            f"rotation of {r.target.workload} failed{where}: {why}\n"
            f"THE PUBLISHED CREDENTIALS DO NOT LOG IN: {', '.join(bad)}; "
            "run --status and fix this first",
        )
    return Outcome(
        ExitCode.STOPPED_OLD_VALID,
        f"rotation of {r.target.workload} stopped{where}: {why}\nthe credentials tasks use still log in",
    )


def rotate(r: Rotator, resume: bool = False, min_age: float = 0.0, lock_ttl: float | None = None) -> Outcome:
    """A new rotation (or `resume` of an unfinished one); `min_age` seconds since the last one make it due."""
    t = r.target
    lock = _lock(r, lock_ttl)
    try:
        lock.acquire()
    except LockHeld as exc:
        return Outcome(ExitCode.LOCKED, f"{t.env}/{t.workload}: refused: {exc}")
    journal: Journal | None = None
    try:
        journal = r.store.load()
        unfinished = journal is not None and not journal.finished
        if resume and not unfinished:
            return Outcome(ExitCode.NOTHING_DUE, f"{t.env}/{t.workload}: nothing to resume")
        if unfinished and not resume:
            assert journal is not None
            return Outcome(
                ExitCode.STOPPED_OLD_VALID,
                f"{t.env}/{t.workload}: rotation {journal.rotation_id} stopped at step {journal.step.value} "
                f"({journal.stopped_reason or 'interrupted'}); run with --resume or --abort",
            )
        if not resume and journal is not None and journal.step is Step.DONE and journal.finished_at:
            age = time.time() - journal.finished_at
            if age < min_age:
                return Outcome(
                    ExitCode.NOTHING_DUE, f"{t.env}/{t.workload}: nothing due (last rotation {int(age)}s ago)"
                )
        if resume:
            assert journal is not None
            journal.stopped_reason = None
            r.store.record(journal, "resumed")
            r.reconcile(journal)
        else:
            journal = r.plan(lock)
        r.run(journal, lock)
        slots = ", ".join(f"{s.kind}: {s.old_user} -> {s.new_user}" for s in journal.logins)
        return Outcome(ExitCode.ROTATED, f"{t.env}/{t.workload}: rotated ({slots}); old slots retired")
    except StopSafely as exc:
        return _stopped(r, journal, str(exc))
    except (pgslots.SlotError, VaultError, CasConflict) as exc:
        return _stopped(r, journal, f"{exc}; fix it, then run --resume")
    except Exception as exc:  # boto errors and the unforeseen: same safety check, no secret in the text
        log.debug("rotation error", exc_info=True)
        return _stopped(r, journal, f"{type(exc).__name__}: {pgslots.first_line(exc)}; fix it, then run --resume")
    finally:
        lock.release()


def abort(r: Rotator) -> Outcome:
    """Stop an unfinished rotation and leave working credentials.

    Before publishing: the new slot is disabled again and nothing else changed. After publishing:
    the published (new) credential stays; the old slot is left valid if it was not retired yet (tasks
    that were not replaced still use it), and the next rotation refuses to reuse it while it has sessions.
    """
    t = r.target
    lock = _lock(r, None)
    try:
        lock.acquire()
    except LockHeld as exc:
        return Outcome(ExitCode.LOCKED, f"{t.env}/{t.workload}: refused: {exc}")
    try:
        journal = r.store.load()
        if journal is None or journal.finished:
            return Outcome(ExitCode.NOTHING_DUE, f"{t.env}/{t.workload}: no unfinished rotation to abort")
        notes = []
        with r.admin_connect() as conn:
            for state in journal.logins:
                login = r.logins[state.kind]
                current = r.kv_of(login).read(login.kv_path)
                if current is not None and current.data.get("username") == state.new_user:
                    kept = (
                        "the old slot "
                        + state.old_user
                        + (" stays valid" if pgslots.can_login_attr(conn, state.old_user) else " is retired")
                    )
                    notes.append(f"{state.kind}: new slot {state.new_user} already published and kept; {kept}")
                else:
                    pgslots.disable(conn, state.new_user)
                    notes.append(f"{state.kind}: new slot {state.new_user} disabled; tasks keep using {state.old_user}")
                r.internal.destroy(t.pending_path(login))  # destroyed: no `undelete` brings it back
        journal.step, journal.finished_at = Step.ABORTED, time.time()
        r.store.archive(journal)
        r.store.record(journal, "aborted", notes=notes)
        bad = _current_logs_in(r)
        if bad:
            return Outcome(
                ExitCode.FAILED,
                f"{t.env}/{t.workload}: aborted, but THE PUBLISHED CREDENTIALS DO NOT LOG IN: {', '.join(bad)}",
            )
        return Outcome(
            ExitCode.ROTATED,
            f"{t.env}/{t.workload}: aborted; published credentials verified by a login\n" + "\n".join(notes),
        )
    except (pgslots.SlotError, VaultError, CasConflict) as exc:
        return Outcome(ExitCode.FAILED, f"{t.env}/{t.workload}: abort failed: {exc}")
    finally:
        lock.release()


def status(r: Rotator) -> str:
    t = r.target
    journal = r.store.load()
    holder = _lock(r, None).holder()
    lines = [f"{t.env}/{t.workload}: " + (f"lock held by {holder}" if holder else "not locked")]
    if journal is None:
        lines.append("  never rotated")
        return "\n".join(lines)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(journal.started_at))
    lines.append(f"  rotation {journal.rotation_id} by {journal.started_by} at {when}: step {journal.step.value}")
    for s in journal.logins:
        lines.append(
            f"  {s.kind}: {s.old_user} -> {s.new_user} "
            f"(pending KV v{s.pending_version}, published KV v{s.published_version})"
        )
    for service, dep in journal.deployments.items():
        lines.append(f"  deployment of {service}: {dep}")
    if journal.stopped_reason:
        lines.append(f"  stopped: {journal.stopped_reason}")
    if not journal.finished:
        lines.append("  next: --resume to continue, --abort to stop with working credentials")
    return "\n".join(lines)
