"""diff_states: which instances were added, removed or changed, and which attributes."""

from __future__ import annotations

from scripts.state.diff import ResourceKey, diff_states
from tests.unit.scripts.state.factories import attr_path, instance, resource, state

SECRET_OLD = "old-Secret-value"
SECRET_NEW = "new-Secret-value"


def test_added_removed_and_changed_instances() -> None:
    old = state(
        resource("terraform_data", "a", instance({"id": "1", "input": "one"})),
        resource("terraform_data", "gone", instance({"id": "2"})),
        resource(
            "terraform_data", "m", instance({"id": "m0"}, index_key=0), instance({"id": "m1"}, index_key=1)
        ),
        serial=1,
    )
    new = state(
        resource("terraform_data", "a", instance({"id": "1", "input": "two"})),
        resource("terraform_data", "m", instance({"id": "m0"}, index_key=0)),
        resource("aws_vpc", "main", instance({"id": "vpc-1"}), module="module.network"),
        serial=2,
    )
    result = diff_states(old, new)
    assert result.added == ["module.network.aws_vpc.main"]
    assert result.removed == ["terraform_data.gone", "terraform_data.m[1]"]
    assert [c.address for c in result.changed] == ["terraform_data.a"]
    change = result.changed[0].attributes[0]
    assert (change.name, change.sensitive, change.old, change.new) == ("input", False, '"one"', '"two"')
    assert (result.old_serial, result.new_serial, result.same_lineage) == (1, 2, True)


def test_identical_states_have_no_differences() -> None:
    doc = resource("terraform_data", "a", instance({"id": "1"}))
    result = diff_states(state(doc, serial=1), state(doc, serial=5))
    assert result.empty


def test_sensitive_attribute_changes_are_named_without_values() -> None:
    old = state(
        resource(
            "aws_db_instance",
            "db",
            instance({"password": SECRET_OLD, "echo": SECRET_OLD, "port": 5432}, [attr_path("password")]),
        )
    )
    new = state(
        resource(
            "aws_db_instance",
            "db",
            instance({"password": SECRET_NEW, "echo": SECRET_NEW, "port": 5433}, [attr_path("password")]),
        )
    )
    (change,) = diff_states(old, new).changed
    by_name = {a.name: a for a in change.attributes}
    password = by_name["password"]
    assert password.sensitive and password.old is None and password.new is None
    # an unmarked copy of a secret is treated as sensitive as well
    assert by_name["echo"].sensitive and by_name["echo"].new is None
    assert (by_name["port"].old, by_name["port"].new) == ("5432", "5433")
    rendered = repr(change)
    assert SECRET_OLD not in rendered and SECRET_NEW not in rendered


def test_outputs_are_compared_by_name() -> None:
    old = state(outputs={"a": {"value": 1, "type": "number"}, "b": {"value": "x", "type": "string"}})
    new = state(outputs={"a": {"value": 2, "type": "number"}, "c": {"value": "y", "type": "string"}})
    result = diff_states(old, new)
    assert (result.outputs_added, result.outputs_removed, result.outputs_changed) == (["c"], ["b"], ["a"])


def test_addresses_follow_terraform_syntax() -> None:
    assert ResourceKey("", "data", "aws_iam_policy_document", "p").address == "data.aws_iam_policy_document.p"
    assert ResourceKey("module.db", "managed", "aws_db_instance", "x", "primary").address == (
        'module.db.aws_db_instance.x["primary"]'
    )
    assert ResourceKey("", "managed", "t", "n", 3, deposed="abcd").address == "t.n[3] (deposed abcd)"


def test_lineage_change_is_reported() -> None:
    doc = resource("terraform_data", "a", instance({"id": "1"}))
    assert not diff_states(state(doc, lineage="a"), state(doc, lineage="b")).same_lineage
