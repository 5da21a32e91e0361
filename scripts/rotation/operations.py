"""What `platformctl secrets rotate` does for one workload: rotate / resume / abort / status.

Each returns an `Outcome` (exit code + one operator-facing message). Every failure is turned into
one of two answers: "stopped, the credentials tasks use still log in" (exit 9, resumable) or
"failed" (exit 1) when that check itself fails — the one case that needs a human at once. A run
whose lease was taken over stops at a safe point with its own answer (exit 6, lease lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from scripts.dblogins import passwords, roles
from scripts.dblogins.connect import DatabaseError, first_line
from scripts.rotation.engine import Rotator, StopSafely
from scripts.rotation.journal import EnvLock, LeaseLost, LockHeld
from scripts.rotation.model import ExitCode, Journal, Step
from scripts.runtime.vault_client import VaultError
from scripts.vault.kvstore import CasConflict

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


def _holding(r: Rotator, lock: EnvLock, wait: float, run: Callable[[], Outcome]) -> Outcome:
    """Run under the environment's lease: taken (or refused), renewed by its heartbeat, released.

    A release that fails (the lease was taken over after it expired, the vault is unreachable)
    never replaces the outcome of what ran: it is added to its message.
    """
    t = r.target
    try:
        lock.acquire(wait=wait)
    except LockHeld as exc:
        return Outcome(ExitCode.LOCKED, f"{t.env}/{t.workload}: refused: {exc}")
    lock.start_heartbeat()
    try:
        outcome = run()
    finally:
        note = lock.release()
    if note:
        log.warning("%s/%s: %s", t.env, t.workload, note)
        outcome = Outcome(outcome.code, f"{outcome.message}\n{note}")
    return outcome


def _lease_lost(r: Rotator, journal: Journal | None, why: str) -> Outcome:
    where = f" after step {journal.step.value}" if journal else ""
    return Outcome(
        ExitCode.LEASE_LOST,
        f"rotation of {r.target.workload} LOST ITS LEASE{where}: {why}\n"
        "this run stopped at a safe point and changed nothing after that; the run holding the lease "
        "now continues the rotation (or `--resume` does once that lease expired): see --status",
    )


def _lost_to_another(lock: EnvLock) -> bool:
    """After a check-and-set conflict: was it our lease that went (another run writes the journal)?"""
    try:
        lock.renew()
    except LeaseLost:
        return True
    except Exception:  # the vault itself failed: the ordinary stop answers that
        return False
    return False


def _current_logs_in(r: Rotator) -> list[str]:
    """The logins whose published credential (what a task starting now reads) does NOT log in."""
    bad = []
    for login in r.target.logins:
        found = r.kv_of(login).read(login.kv_path)
        if found is None or not r._logs_in(found.data):
            bad.append(f"{r.kv_of(login).mount}/{login.kv_path}")
    return bad


def _stopped(r: Rotator, journal: Journal | None, why: str) -> Outcome:
    where = f" at step {journal.step.value}" if journal else ""
    try:
        bad = _current_logs_in(r)
    except VaultError as exc:
        return Outcome(
            ExitCode.FAILED,
            f"rotation of {r.target.workload} failed{where}: {why}\n"
            f"the published credentials could not be checked ({exc}); run --status",
        )
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


def rotate(
    r: Rotator, resume: bool = False, min_age: float = 0.0, lock_ttl: float | None = None, wait_lock: float = 0.0
) -> Outcome:
    """A new rotation (or `resume` of an unfinished one); `min_age` seconds since the last one make it due."""
    lock = _lock(r, lock_ttl)
    return _holding(r, lock, wait_lock, lambda: _rotate(r, lock, resume, min_age))


def _rotate(r: Rotator, lock: EnvLock, resume: bool, min_age: float) -> Outcome:
    t = r.target
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
    except LeaseLost as exc:
        return _lease_lost(r, journal, str(exc))
    except StopSafely as exc:
        return _stopped(r, journal, str(exc))
    except CasConflict as exc:
        if _lost_to_another(lock):
            return _lease_lost(r, journal, f"{lock.lost} ({exc})")
        return _stopped(r, journal, f"{exc}; fix it, then run --resume")
    except (DatabaseError, VaultError) as exc:
        return _stopped(r, journal, f"{exc}; fix it, then run --resume")
    except Exception as exc:  # boto errors and the unforeseen: same safety check, no secret in the text
        log.debug("rotation error", exc_info=True)
        return _stopped(r, journal, f"{type(exc).__name__}: {first_line(exc)}; fix it, then run --resume")


def abort(r: Rotator, lock_ttl: float | None = None, wait_lock: float = 0.0) -> Outcome:
    """Stop an unfinished rotation and leave working credentials.

    Before publishing: the new slot is disabled again and nothing else changed. After publishing:
    the published (new) credential stays; the old slot is left valid if it was not retired yet (tasks
    that were not replaced still use it), and the next rotation refuses to reuse it while it has sessions.
    """
    lock = _lock(r, lock_ttl)
    return _holding(r, lock, wait_lock, lambda: _abort(r, lock))


def _abort(r: Rotator, lock: EnvLock) -> Outcome:
    t = r.target
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
                        + (" stays valid" if roles.can_login_attr(conn, state.old_user) else " is retired")
                    )
                    notes.append(f"{state.kind}: new slot {state.new_user} already published and kept; {kept}")
                else:
                    lock.check()
                    passwords.disable(conn, state.new_user)
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
    except LeaseLost as exc:
        return _lease_lost(r, None, str(exc))
    except (DatabaseError, VaultError, CasConflict) as exc:
        return Outcome(ExitCode.FAILED, f"{t.env}/{t.workload}: abort failed: {exc}")


def _lease_line(r: Rotator) -> str:
    st = _lock(r, None).state()
    if st is None:
        return "lease: free"
    doc, live = st
    line = "lease held by " + _lock(r, None).describe(doc)
    if not live:  # no heartbeat renewed it: its process died or hangs (never guessed from a pid)
        line += "; its holder is DEAD or hung (no heartbeat renewed it); the next run or --resume takes it over"
    return line


def _truth(r: Rotator, journal: Journal) -> list[str]:
    """What the KV and the database say now (the journal is written after each change, so it lags)."""
    lines: list[str] = []
    published_new = []
    try:
        conn = r.admin_connect()
    except DatabaseError as exc:
        conn = None
        lines.append(f"  database: not readable as the admin ({exc})")
    try:
        for s in journal.logins:
            login = r.logins[s.kind]
            found = r.kv_of(login).read(login.kv_path)
            user = str(found.data.get("username")) if found else None
            works = found is not None and r._logs_in(found.data)
            published = (
                f"tasks read {user} (KV v{found.version}, {'logs in' if works else 'DOES NOT LOG IN'})"
                if found
                else "tasks read NOTHING (the KV path is empty)"
            )
            if user == s.new_user:
                published_new.append(s.kind)
            stored = r.internal.read(r.target.pending_path(login))
            pending = "pending credential stored" if stored else "no pending credential"
            in_db = ""
            if conn is not None:
                in_db = "; database: " + ", ".join(
                    f"{role} {'enabled' if roles.can_login_attr(conn, role) else 'disabled'}"
                    for role in (s.old_user, s.new_user)
                )
            lines.append(f"  now {s.kind}: {published}; {pending}{in_db}")
    finally:
        if conn is not None:
            conn.close()
    before_publish = (Step.PLANNED, Step.PENDING_STORED, Step.DATABASE_SET, Step.VERIFIED)
    if journal.step in before_publish and published_new:
        lines.append(
            f"  the KV is ahead of the journal: {', '.join(published_new)} already published "
            "(the run stopped between the publish and its journal entry); --resume continues from there"
        )
    return lines


def status(r: Rotator) -> str:
    """The journal, the lease (naming a dead holder) and what the KV and the database say now."""
    t = r.target
    journal = r.store.load()
    lines = [f"{t.env}/{t.workload}: {_lease_line(r)}"]
    if journal is None:
        lines.append("  never rotated")
        return "\n".join(lines)
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(journal.started_at))
    lines.append(
        f"  rotation {journal.rotation_id} by {journal.started_by} at {when}: journal step {journal.step.value}"
    )
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
        lines += _truth(r, journal)
        lines.append("  next: --resume to continue, --abort to stop with working credentials")
    return "\n".join(lines)
