"""Summaries from plan JSON: counts first, destroys loud, values never shown, cut below the limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.ci import planjson, summary
from scripts.ci.planjson import CREATE, DELETE, IMPORT, MOVE, REPLACE, UPDATE

SECRET = "s3cr3t-value-never-shown"


def _rc(address: str, actions: list[str], before: Any = None, after: Any = None, **extra: Any) -> dict[str, Any]:
    change = {"actions": actions, "before": before, "after": after, "after_unknown": extra.pop("unknown", {})}
    change.update(extra.pop("change", {}))
    return {"address": address, "type": address.split(".")[0], "change": change, **extra}


def _plan() -> dict[str, Any]:
    return {
        "resource_changes": [
            _rc("aws_vpc.main", ["update"], {"tags": {"Name": "a"}, "cidr": "10.0.0.0/16"},
                {"tags": {"Name": SECRET}, "cidr": "10.0.0.0/16"}),
            _rc("aws_db_instance.db", ["delete", "create"], {"password": SECRET}, {"password": None},
                unknown={"endpoint": True, "password": False}),
            _rc("aws_s3_bucket.old", ["delete"], {"bucket": SECRET}, None),
            _rc("aws_subnet.new", ["create"], None, {"cidr_block": "10.0.1.0/24"}, unknown={"id": True, "arn": True}),
            _rc("aws_iam_role.kept", ["no-op"], {"name": "r"}, {"name": "r"}),
            _rc("aws_iam_role.renamed", ["no-op"], {"name": "r"}, {"name": "r"}, previous_address="aws_iam_role.old"),
            _rc("aws_s3_bucket.adopted", ["no-op"], {}, {}, change={"importing": {"id": "b"}}),
            _rc("data.aws_region.here", ["read"], None, {}),
        ],
        "output_changes": {"vpc_id": {"actions": ["update"]}, "same": {"actions": ["no-op"]}},
    }


def test_plan_json_is_read_into_kinds_and_attribute_names() -> None:
    parsed = planjson.parse("dev-network", _plan())
    kinds = {c.address: c.kind for c in parsed.changes}
    assert kinds == {
        "aws_vpc.main": UPDATE, "aws_db_instance.db": REPLACE, "aws_s3_bucket.old": DELETE,
        "aws_subnet.new": CREATE, "aws_iam_role.renamed": MOVE, "aws_s3_bucket.adopted": IMPORT,
    }
    by = {c.address: c for c in parsed.changes}
    assert by["aws_vpc.main"].attributes == ["tags"]
    assert by["aws_subnet.new"].unknown == ["arn", "id"]
    assert by["aws_iam_role.renamed"].moved_from == "aws_iam_role.old"
    assert parsed.output_changes == ["vpc_id"] and parsed.outputs_change and parsed.has_changes


def test_a_moved_block_alone_is_a_change_and_named_as_a_move() -> None:
    parsed = planjson.parse("s", {"resource_changes": [_rc("a.b", ["no-op"], {}, {}, previous_address="a.c")]})
    assert parsed.has_changes and parsed.changes[0].kind == MOVE
    md = summary.render_markdown("Plan", [], [parsed])
    assert "**1** move" in md and "moved from `a.c`" in md


def test_markdown_puts_counts_first_destroys_loudly_and_never_a_value() -> None:
    md = summary.render_markdown("Plan: dev", ["header"], [planjson.parse("dev-network", _plan())])
    lines = md.splitlines()
    assert lines[0] == "## Plan: dev"
    assert lines[2].startswith("**1** delete · **1** replace")
    warning = md.index(":warning: 2 destroy / replace")
    assert warning < md.index("`dev-network`")
    assert md.index("aws_db_instance.db") < md.index("aws_vpc.main")
    assert "known after apply: endpoint" in md
    assert SECRET not in md
    assert SECRET not in summary.to_json(None, [planjson.parse("dev-network", _plan())], {})


@pytest.mark.parametrize("count", [5_000, 40_000])
def test_thousands_of_changes_stay_under_the_comment_and_step_summary_limits(count: int, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    plan = {"resource_changes": [
        _rc(f"aws_security_group_rule.rule_with_a_long_generated_name_{i:06d}",
            ["delete"] if i % 10 == 0 else ["update"],
            {"description": "a", "cidr_blocks": ["10.0.0.0/8"], "tags": {}},
            {"description": SECRET, "cidr_blocks": ["0.0.0.0/0"], "tags": {"x": "y"}})
        for i in range(count)
    ]}
    parsed = planjson.parse("dev-big", plan)
    md = summary.render_markdown("Plan: dev", [], [parsed])
    assert len(md) <= summary.MARKDOWN_LIMIT < 65_536
    assert len(md.encode()) < 1024 * 1024
    assert f"**{count // 10}** delete" in md and f"**{count - count // 10}** update" in md  # counts survive
    assert "Summary cut at 60,000 characters" in md and "summary.json" in md
    assert md.index(":warning:") < md.index("Summary cut at")
    step = tmp_path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    summary.publish(tmp_path, md, summary.to_json(None, [parsed], {}))
    full = json.loads((tmp_path / "summary.json").read_text())
    assert len(full["stacks"][0]["changes"]) == count  # the artifact keeps everything
    assert step.read_text().startswith("## Plan: dev") and SECRET not in step.read_text()


def test_drift_lists_resources_changed_outside_terraform() -> None:
    plan = {"resource_drift": [_rc("aws_vpc.main", ["update"], {"tags": {"Name": "x"}}, {"tags": {"Name": SECRET}})],
            "resource_changes": [_rc("aws_vpc.main", ["update"], {"tags": {"Name": SECRET}}, {"tags": {"Name": "x"}})]}
    parsed = planjson.parse("dev-network", plan)
    md = summary.render_markdown("Drift: dev", [], [parsed])
    assert "Changed outside Terraform (1)" in md and SECRET not in md
