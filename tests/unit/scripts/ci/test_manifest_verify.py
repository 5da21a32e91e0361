"""The verdict `ci apply` reaches on a manifest: every field re-checked, every mismatch named."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from scripts.ci.manifest import DEFERRED, PLANNED, Manifest, Observed, StackEntry, StateRef, verify

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


APPLIED = StateRef(True, 7, "lin-1")


def _manifest(state: StateRef = APPLIED) -> Manifest:
    return Manifest(
        environment="dev",
        bundle_id="b-1",
        created_at=(NOW - timedelta(hours=1)).isoformat(),
        expires_at=(NOW + timedelta(hours=7)).isoformat(),
        git_commit="c" * 40,
        terraform_version="1.11.4",
        stacks=[
            StackEntry("dev-network", PLANNED, [], "s1", "l1", state, True, "p1", "j1"),
            StackEntry("dev-database", DEFERRED, ["dev-network"], "s2", "l2", reason="waits"),
        ],
    )


def _observed(**overrides: object) -> Observed:
    seen = Observed(
        environment="dev", git_commit="c" * 40, terraform_version="1.11.4", now=NOW,
        synth_sha256={"dev-network": "s1"}, lock_sha256={"dev-network": "l1"},
        state={"dev-network": StateRef(True, 7, "lin-1")},
        plan_sha256={"dev-network": "p1"}, plan_json_sha256={"dev-network": "j1"},
    )
    return dataclasses.replace(seen, **overrides)  # type: ignore[arg-type]


def test_a_matching_bundle_may_be_applied() -> None:
    assert verify(_manifest(), _observed()) == []


@pytest.mark.parametrize(
    ("observed", "why"),
    [
        ({"environment": "prod"}, "bundle is for environment 'dev', not 'prod'"),
        ({"git_commit": "d" * 40}, "planned at commit"),
        ({"terraform_version": "1.12.0"}, "planned with Terraform 1.11.4, this runner has 1.12.0"),
        ({"now": NOW + timedelta(hours=8)}, "bundle expired at"),
        ({"now": NOW - timedelta(hours=2)}, "created in the future"),
        ({"synth_sha256": {"dev-network": "other"}}, "dev-network: synthesized JSON differs"),
        ({"lock_sha256": {"dev-network": "other"}}, "dev-network: provider lock file differs"),
        ({"plan_sha256": {"dev-network": "other"}}, "dev-network: saved plan file does not match"),
        ({"plan_json_sha256": {"dev-network": None}}, "dev-network: plan JSON does not match"),
        ({"state": {"dev-network": StateRef(True, 8, "lin-1")}}, "state changed since the plan"),
        ({"state": {"dev-network": StateRef(True, 7, "lin-2")}}, "state changed since the plan"),
        ({"state": {"dev-network": StateRef(False)}}, "state changed since the plan"),
        ({"state": {}}, "state of the stack unknown"),
        ({"git_dirty_sha256": "e" * 64}, "planned with uncommitted changes none, this checkout has eeee"),
    ],
)
def test_each_field_that_no_longer_matches_is_named(observed: dict[str, object], why: str) -> None:
    problems = verify(_manifest(), _observed(**observed))
    assert len(problems) == 1 and why in problems[0], problems


def test_empty_state_replay_is_refused() -> None:
    """Terraform itself cannot tell: a plan made on empty state applies twice. The marker can."""
    planned_on_nothing = _manifest(StateRef(False))
    assert verify(planned_on_nothing, _observed(state={"dev-network": StateRef(False)})) == []
    (problem,) = verify(planned_on_nothing, _observed())
    assert "planned against no state yet, but the stack now has state (serial 7, lineage lin-1)" in problem


def test_every_problem_is_reported_at_once() -> None:
    problems = verify(_manifest(), _observed(git_commit="x", terraform_version="0", plan_sha256={}))
    assert len(problems) == 3


def test_deferred_stacks_are_not_checked_and_not_applied() -> None:
    m = _manifest()
    assert [s.name for s in m.to_apply()] == ["dev-network"]
    assert [s.name for s in m.remaining()] == ["dev-database"]
    assert m.has_changes()


def test_manifest_round_trips_through_json() -> None:
    m = _manifest()
    assert Manifest.from_json(m.to_json()) == m


def test_a_foreign_document_is_not_a_manifest() -> None:
    with pytest.raises(ValueError, match="not a platform-ci-bundle/2 manifest"):
        Manifest.from_json('{"format": "something-else"}')


def test_a_bundle_without_lifetime_is_refused() -> None:
    """`--ttl 0m` is refused by the CLI; a manifest that says so anyway is refused by apply."""
    m = dataclasses.replace(_manifest(), expires_at=_manifest().created_at)
    problems = verify(m, _observed(now=NOW - timedelta(hours=2)))
    assert any("no lifetime" in p for p in problems), problems


def test_uncommitted_changes_must_be_the_ones_planned() -> None:
    m = dataclasses.replace(_manifest(), git_dirty_sha256="a" * 64)
    assert verify(m, _observed(git_dirty_sha256="a" * 64)) == []
    (problem,) = verify(m, _observed(git_dirty_sha256=None))
    assert "uncommitted changes aaaa" in problem
