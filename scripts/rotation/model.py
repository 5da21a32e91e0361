"""What a rotation acts on and where it stands: targets, steps, journal records, exit codes.

The logins and the database themselves are scripts/dblogins (model.Login, model.Database).

Nothing here does I/O. The journal record holds names, versions and deployment ids only — never
a password — so it can be printed, logged and stored next to the secrets without widening them.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from app.contracts import exitcodes
from app.contracts import names as contracts
from scripts.dblogins.model import Database, Login


class Step(enum.StrEnum):
    """Workload-level steps, in order. A journal's `step` is the last one *completed*."""

    PLANNED = "planned"
    PENDING_STORED = "pending_stored"  # new passwords in the KV pending path, DB untouched
    DATABASE_SET = "database_set"  # inactive slots carry the new passwords
    VERIFIED = "verified"  # a real login with each pending credential worked
    PUBLISHED = "published"  # the KV paths tasks read now hold the new slots
    ROLLED_OUT = "rolled_out"  # every service reading the secret replaced all its tasks
    RETIRED = "retired"  # old slots: NOLOGIN + random password
    DONE = "done"
    ABORTED = "aborted"


FINISHED = (Step.DONE, Step.ABORTED)

# application_name of the rotation's sessions: the admin's, and the one-off logins verifying a credential.
ROTATION_APP, VERIFY_APP = "platformctl-rotation", "platformctl-rotation-verify"


class ExitCode(enum.IntEnum):
    """The scheduling contract: rotation's entries of the one table (docs/exit-codes.md)."""

    ROTATED = exitcodes.OK
    FAILED = exitcodes.FAILED  # unexpected; run --status before anything else
    USAGE = exitcodes.USAGE  # bad arguments or configuration; nothing was changed
    NOTHING_DUE = exitcodes.NOTHING_DUE
    STOPPED_OLD_VALID = exitcodes.STOPPED_SAFE  # the credentials tasks use still log in; --resume later
    LOCKED = exitcodes.LOCKED  # another rotation of this environment holds the lease
    LEASE_LOST = exitcodes.LEASE_LOST  # this run's lease was taken over: it stopped at a safe point


@dataclass(frozen=True)
class AdminSource:
    """Where the connection that alters the slots comes from (never the password itself).

    kind "kv": a login stored in the vault KV (the dedicated vault admin role; workloads use it).
    kind "secretsmanager": a secret ARN (the RDS-managed master secret; only the admin target).
    """

    kind: Literal["kv", "secretsmanager"]
    ref: str


@dataclass(frozen=True)
class RotationTarget:
    env: str
    workload: str
    kv_mount: str
    logins: tuple[Login, ...]
    database: Database
    admin: AdminSource
    cluster: str | None = None
    services: tuple[str, ...] = ()  # ECS services whose tasks read the secret at start

    @property
    def internal_mount(self) -> str:
        """Where journals, locks and pending passwords live: no workload policy names this mount."""
        return contracts.internal_kv_mount(self.kv_mount)

    @property
    def journal_path(self) -> str:
        return f"rotation/{self.env}/{self.workload}/journal"

    def pending_path(self, login: Login) -> str:
        return f"rotation/{self.env}/{self.workload}/pending/{login.kind}"

    @property
    def lock_path(self) -> str:
        return f"rotation/{self.env}/lock"


@dataclass
class LoginState:
    kind: str
    old_user: str
    new_user: str
    pending_version: int | None = None
    published_version: int | None = None


@dataclass
class Journal:
    env: str
    workload: str
    rotation_id: str
    step: Step
    started_by: str
    started_at: float
    logins: list[LoginState] = field(default_factory=list)
    deployments: dict[str, str] = field(default_factory=dict)  # service -> deployment id
    stopped_reason: str | None = None
    finished_at: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # append-only audit trail

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["step"] = self.step.value
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Journal:
        doc = dict(doc)
        doc["step"] = Step(doc["step"])
        doc["logins"] = [LoginState(**x) for x in doc.get("logins", [])]
        return cls(**doc)

    @property
    def finished(self) -> bool:
        return self.step in FINISHED
