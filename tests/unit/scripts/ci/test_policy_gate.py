"""The policy gate fails closed: failed checks, zero checks, unjustified skips (real checkov)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.contracts.workspace import PROJECT_ROOT
from scripts.ci import policy


def _plan(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A minimal `terraform show -json` document holding RESOURCES as planned values."""
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {"root_module": {"resources": resources}},
        "resource_changes": [
            {"address": r["address"], "type": r["type"], "name": r["name"], "mode": "managed",
             "provider_name": "registry.terraform.io/hashicorp/aws",
             "change": {"actions": ["create"], "before": None, "after": r["values"], "after_unknown": {"id": True}}}
            for r in resources
        ],
        "configuration": {"root_module": {"resources": []}},
    }


OPEN_SSH = {
    "address": "aws_security_group.open", "mode": "managed", "type": "aws_security_group", "name": "open",
    "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 1,
    "values": {"name": "open", "description": "ssh from anywhere", "egress": [], "ingress": [
        {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"], "description": "ssh",
         "ipv6_cidr_blocks": [], "prefix_list_ids": [], "security_groups": [], "self": False}]},
}


def test_the_repository_skip_files_justify_every_skip() -> None:
    for name in (".checkov.yaml", ".checkov.local.yaml"):
        skips, missing = policy.read_skips((PROJECT_ROOT / name).read_text())
        assert skips and missing == [], name


def test_a_skip_without_a_comment_is_named() -> None:
    text = "framework:\n  - terraform_json\nskip-check:\n  # reason\n  - CKV_A\n  - CKV_B\n\n"
    text += "  - CKV_C\n  - CKV_D  # why\n"
    assert policy.read_skips(text) == (["CKV_A", "CKV_B", "CKV_C", "CKV_D"], ["CKV_C"])


def test_zero_checks_in_a_report_fail_closed(tmp_path: Path) -> None:
    passed, failed, _ = policy.parse_report(json.dumps({"summary": {"passed": 0, "failed": 0}, "results": {}}))
    assert (passed, failed) == (0, [])
    result = policy.run_checkov([], tmp_path)
    assert not result.ok and "zero checks evaluated" in result.problems[0]


def test_real_checkov_fails_an_open_ssh_rule_and_reports_ids_only(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stacks" / "dev-network"
    stack_dir.mkdir(parents=True)
    (stack_dir / "plan.json").write_text(json.dumps(_plan([OPEN_SSH])))
    result = policy.run_checkov([stack_dir / "plan.json"], tmp_path)
    assert not result.ok and result.passed > 0
    failing = {f.check_id for f in result.failed}
    assert "CKV_AWS_24" in failing  # port 22 open to 0.0.0.0/0
    assert {f.stack for f in result.failed} == {"dev-network"}
    assert {f.resource for f in result.failed} == {"aws_security_group.open"}


def test_real_checkov_on_a_plan_without_resources_is_zero_checks(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text(json.dumps(_plan([])))
    result = policy.run_checkov([tmp_path / "plan.json"], tmp_path)
    assert not result.ok
    assert any("zero checks evaluated" in p for p in result.problems)


def test_an_unjustified_waiver_fails_the_gate(tmp_path: Path) -> None:
    waivers = tmp_path / "w.yaml"
    waivers.write_text("skip-check:\n  - CKV_AWS_24\n")
    result = policy.run_checkov([], tmp_path, waivers=waivers)
    assert "w.yaml: skip of CKV_AWS_24 has no justifying comment" in result.problems


@pytest.mark.parametrize("tier", ["production", "non-production"])
def test_only_tiers_with_a_waiver_file_get_waivers(tier: str) -> None:
    assert policy.default_waivers(tier) is None
    assert policy.default_waivers("local") == PROJECT_ROOT / ".checkov.local.yaml"


def test_a_plan_checkov_silently_skips_fails_the_gate(tmp_path: Path) -> None:
    """checkov reports the files it could parse and drops the others without an error."""
    good = tmp_path / "stacks" / "dev-network" / "plan.json"
    bad = tmp_path / "stacks" / "dev-service" / "plan.json"
    for f in (good, bad):
        f.parent.mkdir(parents=True)
    good.write_text(json.dumps(_plan([OPEN_SSH])))
    bad.write_text(json.dumps(_plan([OPEN_SSH]))[:-40])  # truncated: not JSON any more
    result = policy.run_checkov([good, bad], tmp_path)
    assert result.passed > 0 and not result.ok
    assert result.problems == ["dev-service: the plan JSON is unreadable; nothing in it was checked"]
    assert {f.stack for f in result.failed} == {"dev-network"}


def test_a_moved_resource_in_a_plan_is_judged_like_any_other(tmp_path: Path) -> None:
    """Plan JSON records a `moved` block as `previous_address` (no top-level `moved` list as in the
    synthesized JSON that checkov's terraform_json parser cannot read)."""
    plan = _plan([OPEN_SSH])
    change = plan["resource_changes"][0]
    change["previous_address"] = "aws_security_group.old"
    change["change"]["actions"] = ["no-op"]
    f = tmp_path / "stacks" / "dev-service" / "plan.json"
    f.parent.mkdir(parents=True)
    f.write_text(json.dumps(plan))
    result = policy.run_checkov([f], tmp_path)
    assert result.problems == []
    assert "CKV_AWS_24" in {x.check_id for x in result.failed}


def test_a_plan_without_aws_resources_needs_no_checks(tmp_path: Path) -> None:
    good = tmp_path / "stacks" / "dev-network" / "plan.json"
    empty = tmp_path / "stacks" / "dev-vault" / "plan.json"  # e.g. outputs only
    for f in (good, empty):
        f.parent.mkdir(parents=True)
    good.write_text(json.dumps(_plan([OPEN_SSH])))
    empty.write_text(json.dumps(_plan([])))
    assert policy.run_checkov([good, empty], tmp_path).problems == []
