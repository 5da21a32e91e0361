"""The rotation state machine: each step is idempotent and recorded in the journal before the next.

planned -> pending_stored -> database_set -> verified -> published -> rolled_out -> retired -> done

Invariants that make a crash at any point safe:
- the pending password is in the KV (pending path) before the database is changed, so a resume
  can always find it, and the slot it goes to is one no running task uses;
- the credential tasks read (the KV path) changes only after a real login with the new one worked;
- the old slot is retired only after every service that reads the secret completed a deployment.
On resume, `reconcile` tries the pending and current credentials to learn where the database really
is rather than trusting the journal's last step. Journal writes use check-and-set (kvstore).

The run holds the environment's lease (journal.EnvLock), renewed by a heartbeat thread. A lost
lease (another run took it over after it expired) stops the run with `LeaseLost` at the next safe
point: the start of a step (a synchronous renewal), before each database password change, KV
publish, deployment start and retirement, and at every poll of the rollout wait and the drain.
Each of those is a point where the invariants above hold, so stopping there loses nothing: a
password set without its publish is still in the pending path (resume finds it), and a drain cut
short has not yet disabled the old slot. Between a check and the write it guards there is no
wait, and the heartbeat keeps the lease for a whole ttl beyond the check.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from scripts.dblogins import passwords, roles, sessions
from scripts.dblogins.connect import can_log_in
from scripts.rotation.ecs import EcsRestarter
from scripts.rotation.faults import crash_point
from scripts.rotation.journal import EnvLock, JournalStore, whoami
from scripts.rotation.model import VERIFY_APP, Journal, Login, LoginState, RotationTarget, Step
from scripts.vault.kvstore import KvStore

log = logging.getLogger(__name__)

AdminConnect = Callable[[], psycopg.Connection]
SECRET_KEYS = ("username", "password", "host", "port", "dbname")


class StopSafely(Exception):
    """The rotation stopped where the credentials tasks use still log in; the message says how to go on."""


@dataclass
class Rotator:
    target: RotationTarget
    kv: KvStore
    admin_connect: AdminConnect
    restarter: EcsRestarter | None = None
    grace: float = 300.0  # seconds to wait for the old slot's sessions to end before terminating them
    progress: Callable[[str], None] = log.info

    def __post_init__(self) -> None:
        # `kv` is the workload mount; journals, locks, pending passwords and the migration/admin
        # logins are on the internal mount, which no workload policy names (ADR 0017).
        self.internal = self.kv.on(self.target.internal_mount)
        self.store = JournalStore(self.internal, self.target.journal_path)
        self.logins = {lg.kind: lg for lg in self.target.logins}

    def kv_of(self, login: Login) -> KvStore:
        return self.internal if login.internal else self.kv

    # --- helpers ------------------------------------------------------------------------------
    def _advance(self, journal: Journal, lock: EnvLock, step: Step, **details: object) -> None:
        lock.check()
        journal.step = step
        self.store.record(journal, step.value, **details)
        lock.renew()
        self.progress(f"{self.target.env}/{self.target.workload}: {step.value}")
        crash_point(f"after:{step.value}")

    @staticmethod
    def _waiting(lock: EnvLock) -> Callable[[float], None]:
        """`sleep` for the drain: a safe point before and after every pause (the heartbeat renews)."""

        def sleep(seconds: float) -> None:
            lock.check()
            time.sleep(seconds)
            lock.check()

        return sleep

    def _pending(self, login: Login) -> dict[str, object]:
        found = self.internal.read(self.target.pending_path(login))
        if found is None:
            raise StopSafely(
                f"the pending credential of {login.kind} is missing from the KV; run --abort, then rotate again"
            )
        return found.data

    def _secret(self, user: str, password: str) -> dict[str, object]:
        db = self.target.database
        return {"username": user, "password": password, "host": db.host, "port": db.port, "dbname": db.dbname}

    def _logs_in(self, doc: dict[str, object] | None) -> bool:
        if not doc or "username" not in doc or "password" not in doc:
            return False
        return can_log_in(self.target.database, str(doc["username"]), str(doc["password"]), VERIFY_APP)

    def _pending_logs_in(self, login: Login) -> bool:
        found = self.internal.read(self.target.pending_path(login))
        return found is not None and self._logs_in(found.data)

    # --- planning -----------------------------------------------------------------------------
    def plan(self, lock: EnvLock) -> Journal:
        states = []
        with self.admin_connect() as conn:
            for login in self.target.logins:
                current = self.kv_of(login).read(login.kv_path)
                if current is None or "username" not in current.data:
                    raise StopSafely(
                        f"{self.kv_of(login).mount}/{login.kv_path} holds no login; "
                        "run `platformctl vault bootstrap` first"
                    )
                old = str(current.data["username"])
                new = login.other_slot(old)
                busy = sessions.sessions(conn, new)
                if busy:
                    raise StopSafely(
                        f"slot {new} still has {len(busy)} session(s) ({', '.join(map(str, busy[:3]))}): "
                        "tasks may still "
                        "use it from an earlier rotation; roll the services out, then rotate again"
                    )
                states.append(LoginState(login.kind, old, new))
        journal = Journal(
            env=self.target.env,
            workload=self.target.workload,
            rotation_id=uuid.uuid4().hex[:12],
            step=Step.PLANNED,
            started_by=whoami(),
            started_at=time.time(),
            logins=states,
        )
        self.store.load()  # the CAS version of the previous journal (or 0)
        self._advance(journal, lock, Step.PLANNED, slots={s.kind: f"{s.old_user} -> {s.new_user}" for s in states})
        return journal

    # --- steps --------------------------------------------------------------------------------
    def store_pending(self, journal: Journal, lock: EnvLock) -> None:
        for state in journal.logins:
            login = self.logins[state.kind]
            path = self.target.pending_path(login)
            state.pending_version = self.internal.write(
                path, self._secret(state.new_user, passwords.new_password()), cas=self.internal.current_version(path)
            )
            crash_point(f"kv:pending:{state.kind}")
        self._advance(
            journal, lock, Step.PENDING_STORED, kv_versions={s.kind: s.pending_version for s in journal.logins}
        )

    def set_database(self, journal: Journal, lock: EnvLock) -> None:
        with self.admin_connect() as conn:
            for state in journal.logins:
                pending = self._pending(self.logins[state.kind])
                if self._logs_in(pending):
                    continue  # already set before a crash: the database is ahead of the journal
                lock.check()
                passwords.set_password(conn, state.new_user, str(pending["password"]))
                crash_point(f"db:set:{state.kind}")
        self._advance(journal, lock, Step.DATABASE_SET, slots=[s.new_user for s in journal.logins])

    def verify(self, journal: Journal, lock: EnvLock) -> None:
        for state in journal.logins:
            if not self._logs_in(self._pending(self.logins[state.kind])):
                raise StopSafely(f"a login as {state.new_user} with the new password failed; nothing was published")
        self._advance(journal, lock, Step.VERIFIED, slots=[s.new_user for s in journal.logins])

    def publish(self, journal: Journal, lock: EnvLock) -> None:
        for state in journal.logins:
            login = self.logins[state.kind]
            pending = self._pending(login)
            current, cas = self.kv_of(login).read_versioned(login.kv_path)
            if current and all(current.data.get(k) == pending.get(k) for k in ("username", "password")):
                state.published_version = current.version  # published before a crash
                continue
            lock.check()
            state.published_version = self.kv_of(login).write(
                login.kv_path, {**(current.data if current else {}), **pending}, cas=cas
            )
            crash_point(f"kv:publish:{state.kind}")
        self._advance(journal, lock, Step.PUBLISHED, kv_versions={s.kind: s.published_version for s in journal.logins})

    def roll_out(self, journal: Journal, lock: EnvLock) -> None:
        cluster, services = self.target.cluster, self.target.services
        if not services or cluster is None or self.restarter is None:
            self._advance(journal, lock, Step.ROLLED_OUT, services=[])
            return
        for service in services:
            deployment = journal.deployments.get(service)
            result = self.restarter.check(cluster, service, deployment) if deployment else None
            if deployment is None or (
                not isinstance(result, str) and result is not None and result.outcome != "completed"
            ):
                lock.check()
                deployment = self.restarter.force_new_deployment(cluster, service)
                crash_point(f"ecs:deploy:{service}")
                journal.deployments[service] = deployment
                self.store.record(journal, "deployment_started", service=service, deployment_id=deployment)
            self.progress(f"waiting for {cluster}/{service} deployment {deployment} to replace every task")
            done = self.restarter.wait_for(cluster, service, deployment, self.progress, lock.check)
            if done.outcome != "completed":
                journal.stopped_reason = f"{service}: {done.outcome}: {done.detail}"
                self.store.record(journal, "stopped", service=service, deployment_id=deployment, outcome=done.outcome)
                raise StopSafely(
                    f"the deployment {deployment} of {cluster}/{service} did not complete "
                    f"({done.outcome}: {done.detail}). "
                    "Nothing was retired: the old and the new slot both log in. Fix the service, then run "
                    f"`platformctl secrets rotate --env {self.target.env} --workload {self.target.workload} --resume` "
                    "(it starts a new deployment) or --abort"
                )
            lock.renew()
        self._advance(journal, lock, Step.ROLLED_OUT, deployments=dict(journal.deployments))

    def retire(self, journal: Journal, lock: EnvLock) -> None:
        """Disable the old slot — and any other login role of the credential an aborted rotation left
        enabled: after the rollout no task may use anything but the new slot."""
        with self.admin_connect() as conn:
            for state in journal.logins:
                login = self.logins[state.kind]
                others = [r for r in (login.group, *login.slots) if r not in (state.old_user, state.new_user)]
                for role in [state.old_user, *others]:
                    lock.check()
                    if roles.can_login_attr(conn, role):
                        gone = sessions.retire(
                            conn, role, self.grace, sleep=self._waiting(lock), progress=self.progress
                        )
                    elif role == state.old_user:  # disabled before a crash; end what is left
                        gone = sessions.sessions(conn, role)
                        for session in gone:
                            conn.execute("SELECT pg_terminate_backend(%s)", (session.pid,))
                    else:
                        continue
                    crash_point(f"db:retire:{state.kind}")
                    if gone:
                        self.progress(
                            f"retired {role}: terminated {len(gone)} session(s): " + "; ".join(map(str, gone))
                        )
                    self.store.record(journal, "slot_retired", slot=role, terminated=[str(x) for x in gone])
        for state in journal.logins:
            # Destroyed, not soft-deleted: `undelete` must not bring a password back.
            self.internal.destroy(self.target.pending_path(self.logins[state.kind]))
        self._advance(journal, lock, Step.RETIRED, slots=[s.old_user for s in journal.logins])

    # --- driving ------------------------------------------------------------------------------
    def reconcile(self, journal: Journal) -> None:
        """Where is the database really? Try the pending, published and previous credential of each login.

        Before publishing, the pending credential decides whether the database must be set (again).
        After publishing, the published credential must log in — tasks start with it — so a new slot
        that lost its password (e.g. a database restored from a snapshot) gets it set again; the
        previous slot only matters to running tasks and is reported when it no longer logs in.
        """
        if journal.step in (Step.PENDING_STORED, Step.DATABASE_SET, Step.VERIFIED):
            pending_ok = [self._pending_logs_in(self.logins[s.kind]) for s in journal.logins]
            if journal.step is Step.PENDING_STORED and all(pending_ok):
                self.progress("resume: every new slot already logs in with its pending password (database ahead)")
            elif journal.step is not Step.PENDING_STORED and not all(pending_ok):
                self.progress("resume: a new slot does not log in with its pending password; setting it again")
                journal.step = Step.PENDING_STORED
            return
        if journal.step not in (Step.PUBLISHED, Step.ROLLED_OUT):
            return
        with self.admin_connect() as conn:
            for state in journal.logins:
                login = self.logins[state.kind]
                published = self.kv_of(login).read(login.kv_path)
                doc = published.data if published else None
                if doc and doc.get("username") == state.new_user and not self._logs_in(doc):
                    self.progress(f"resume: the published {state.new_user} does not log in; setting its password again")
                    passwords.set_password(conn, state.new_user, str(doc["password"]))
                if not roles.can_login_attr(conn, state.old_user):
                    self.progress(f"resume: the previous slot {state.old_user} is already disabled")

    def run(self, journal: Journal, lock: EnvLock) -> None:
        steps = {
            Step.PLANNED: self.store_pending,
            Step.PENDING_STORED: self.set_database,
            Step.DATABASE_SET: self.verify,
            Step.VERIFIED: self.publish,
            Step.PUBLISHED: self.roll_out,
            Step.ROLLED_OUT: self.retire,
        }
        while journal.step in steps:
            lock.renew()  # confirmed with the KV: the step starts with a whole ttl ahead
            steps[journal.step](journal, lock)
        if journal.step is Step.RETIRED:
            journal.finished_at = time.time()
            journal.step = Step.DONE
            self.store.archive(journal)
            self._advance(journal, lock, Step.DONE, rotation_id=journal.rotation_id)
