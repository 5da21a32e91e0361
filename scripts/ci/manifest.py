"""The bundle manifest and the pure verdict `apply` reaches on it.

`verify()` compares every recorded field with what is observed just before applying and returns
every mismatch at once (an empty list means: apply exactly these plans). The clock is injected.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT = "platform-ci-bundle/2"
PLANNED = "planned"  # final: applied by `apply` when it has changes
PROVISIONAL = "provisional"  # planned against outputs an upstream stack of this bundle will change
DEFERRED = "deferred"  # not planned: an upstream stack has no state yet or its plan failed


@dataclass(frozen=True)
class StateRef:
    """A stack's remote state when planned; exists=False is the explicit "no state yet" marker."""

    exists: bool
    serial: int | None = None
    lineage: str | None = None

    def describe(self) -> str:
        return f"serial {self.serial}, lineage {self.lineage}" if self.exists else "no state yet"


@dataclass(frozen=True)
class StackEntry:
    name: str
    status: str
    dependencies: list[str]
    synth_sha256: str | None
    lock_sha256: str | None
    state: StateRef | None = None
    has_changes: bool = False
    plan_sha256: str | None = None
    plan_json_sha256: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class PolicyVerdict:
    passed: bool
    checks_passed: int
    checks_failed: int
    checkov_version: str
    checked_at: str


@dataclass(frozen=True)
class Manifest:
    environment: str
    bundle_id: str
    created_at: str
    expires_at: str
    git_commit: str
    terraform_version: str
    stacks: list[StackEntry]
    policy: PolicyVerdict | None = None
    # sha256 of the uncommitted changes planned with `ci synth --allow-dirty` (None: a clean tree)
    git_dirty_sha256: str | None = None
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest (format {data.get('format')!r})")
        stacks = [
            StackEntry(**{**s, "state": StateRef(**s["state"]) if s.get("state") else None}) for s in data["stacks"]
        ]
        policy = PolicyVerdict(**data["policy"]) if data.get("policy") else None
        return cls(**{**data, "stacks": stacks, "policy": policy})

    def with_policy(self, verdict: PolicyVerdict) -> Manifest:
        return Manifest(**{**self.__dict__, "policy": verdict})

    def entry(self, name: str) -> StackEntry:
        return next(s for s in self.stacks if s.name == name)

    def to_apply(self) -> list[StackEntry]:
        return [s for s in self.stacks if s.status == PLANNED and s.has_changes]

    def remaining(self) -> list[StackEntry]:
        """Stacks left for a later wave (plan again after this bundle is applied)."""
        return [s for s in self.stacks if s.status in (PROVISIONAL, DEFERRED)]

    def has_changes(self) -> bool:
        return any(s.has_changes for s in self.stacks) or bool(self.remaining())


@dataclass(frozen=True)
class Observed:
    """What `apply` sees right before applying: the environment, the working copy, the states."""

    environment: str
    git_commit: str
    terraform_version: str
    now: datetime
    git_dirty_sha256: str | None = None
    synth_sha256: dict[str, str | None] = field(default_factory=dict)
    lock_sha256: dict[str, str | None] = field(default_factory=dict)
    state: dict[str, StateRef] = field(default_factory=dict)
    plan_sha256: dict[str, str | None] = field(default_factory=dict)
    plan_json_sha256: dict[str, str | None] = field(default_factory=dict)


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify(m: Manifest, seen: Observed) -> list[str]:
    """Every reason to refuse applying this bundle (empty: it may be applied)."""
    problems: list[str] = []
    if m.environment != seen.environment:
        problems.append(f"bundle is for environment {m.environment!r}, not {seen.environment!r}")
    try:
        expires = parse_time(m.expires_at)
        if seen.now >= expires:
            problems.append(f"bundle expired at {m.expires_at} (now {seen.now.isoformat(timespec='seconds')})")
        if parse_time(m.created_at) > seen.now:
            problems.append(f"bundle claims to be created in the future ({m.created_at})")
        if expires <= parse_time(m.created_at):
            problems.append(f"bundle has no lifetime (created {m.created_at}, expires {m.expires_at})")
    except ValueError:
        problems.append(f"unreadable bundle times created_at={m.created_at!r} expires_at={m.expires_at!r}")
    if m.git_commit != seen.git_commit:
        problems.append(f"planned at commit {m.git_commit}, this checkout is {seen.git_commit}")
    if m.git_dirty_sha256 != seen.git_dirty_sha256:
        problems.append(f"planned with uncommitted changes {m.git_dirty_sha256 or 'none'}, "
                        f"this checkout has {seen.git_dirty_sha256 or 'none'}")
    if m.terraform_version != seen.terraform_version:
        problems.append(f"planned with Terraform {m.terraform_version}, this runner has {seen.terraform_version}")
    for s in m.stacks:
        if s.status == DEFERRED:
            continue
        problems.extend(_verify_stack(s, seen))
    return problems


def _verify_stack(s: StackEntry, seen: Observed) -> list[str]:
    out: list[str] = []
    if seen.synth_sha256.get(s.name) != s.synth_sha256:
        out.append(f"{s.name}: synthesized JSON differs from the one planned (synth again and re-plan)")
    if seen.lock_sha256.get(s.name) != s.lock_sha256:
        out.append(f"{s.name}: provider lock file differs from the one planned")
    if seen.plan_sha256.get(s.name) != s.plan_sha256:
        out.append(f"{s.name}: saved plan file does not match its recorded sha256")
    if seen.plan_json_sha256.get(s.name) != s.plan_json_sha256:
        out.append(f"{s.name}: plan JSON does not match its recorded sha256")
    now_state = seen.state.get(s.name)
    if s.state is None or now_state is None:
        out.append(f"{s.name}: state of the stack unknown (recorded {s.state}, observed {now_state})")
    elif not s.state.exists and now_state.exists:
        out.append(
            f"{s.name}: planned against no state yet, but the stack now has state ({now_state.describe()}): "
            "this bundle was already applied, or another run applied first"
        )
    elif s.state != now_state:
        out.append(
            f"{s.name}: state changed since the plan (planned at {s.state.describe()}, now {now_state.describe()}): "
            "the plan is stale"
        )
    return out


def now_utc() -> datetime:
    return datetime.now(UTC)
