"""Masking below the top level and inside encodings, with planted canaries.

Each test plants a unique canary where a real state holds secrets Terraform does not mark, and
asserts it appears nowhere in `state show` output (`mask_state`) nor in the rendered diff (what
`state diff` and `state restore --yes` print), while the non-secret neighbours stay visible.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from scripts.state.diff import diff_states
from scripts.state.sensitive import MASK, mask_state, sensitive_values
from tests.unit.scripts.state.factories import attr_path, instance, resource, state

CANARY = "canary-Zq9/x+y&z=Secret"  # has characters that URL and form encoding change
OTHER = "canary-second-value-77"


def _container_definitions(env: list[dict[str, str]], **extra: Any) -> str:
    # How the AWS provider stores it: a compact JSON document inside a string attribute.
    return json.dumps([{"name": "app", "image": "app:1", **extra, "environment": env}], separators=(",", ":"))


def _show(attrs: dict[str, Any], marked: list[str] | None = None) -> str:
    st = state(resource("aws_thing", "x", instance(attrs, [attr_path(m) for m in marked or []])))
    return json.dumps(mask_state(st.document))


def _diff_text(old_attrs: dict[str, Any], new_attrs: dict[str, Any]) -> str:
    old = state(resource("aws_thing", "x", instance(old_attrs)), serial=1)
    new = state(resource("aws_thing", "x", instance(new_attrs)), serial=2)
    return repr(diff_states(old, new))


CASES: dict[str, dict[str, Any]] = {
    "secret key nested in a map": {"settings": {"db": {"password": CANARY, "host": "db.internal"}}},
    "secret key in a block list": {"auth": [{"user": "app", "auth_token": CANARY, "host": "db.internal"}]},
    "name/value pair in a list": {
        "environment": [{"name": "DB_PASSWORD", "value": CANARY}, {"name": "host", "value": "db.internal"}]
    },
    "container_definitions JSON": {
        "container_definitions": _container_definitions(
            [{"name": "API_TOKEN", "value": CANARY}, {"name": "host", "value": "db.internal"}]
        )
    },
    "JSON document with a nested secret key": {
        "policy_json": json.dumps({"Config": {"Nested": {"client_secret": CANARY}}, "host": "db.internal"})
    },
    "URL with credentials": {"endpoint": f"postgresql://app:{quote(CANARY, safe='')}@db.internal:5432/app"},
    "form-encoded body": {"body": f"user=app&password={quote_plus(CANARY)}&host=db.internal"},
    "query string": {"url": f"https://db.internal/cb?state=1&access_token={quote(CANARY, safe='')}"},
    "libpq DSN": {"dsn": f"host=db.internal port=5432 user=app password={CANARY}"},
}


@pytest.mark.parametrize("attrs", CASES.values(), ids=list(CASES))
def test_state_show_hides_the_canary_and_keeps_the_rest(attrs: dict[str, Any]) -> None:
    text = _show(attrs)
    for form in (CANARY, quote(CANARY, safe=""), quote_plus(CANARY), json.dumps(CANARY)[1:-1]):
        assert form not in text
    assert "db.internal" in text, "masking must not hide the non-secret parts"


@pytest.mark.parametrize("attrs", CASES.values(), ids=list(CASES))
def test_state_diff_never_renders_the_canary(attrs: dict[str, Any]) -> None:
    old = json.loads(json.dumps(attrs).replace("db.internal", "db-old.internal"))
    text = _diff_text(old, attrs)
    for form in (CANARY, quote(CANARY, safe=""), quote_plus(CANARY)):
        assert form not in text


def test_a_secret_found_deep_is_hidden_where_it_is_copied_encoded() -> None:
    # The password sits in container_definitions; a URL-encoded copy sits in another resource.
    st = state(
        resource(
            "aws_ecs_task_definition",
            "app",
            instance(
                {
                    "container_definitions": _container_definitions([{"name": "DB_PASSWORD", "value": CANARY}]),
                }
            ),
        ),
        resource("aws_ssm_parameter", "dsn", instance({"value": f"postgres://app:{quote(CANARY, safe='')}@db/app"})),
        resource(
            "terraform_data", "copy", instance({"output": {"value": f"x {quote_plus(CANARY)} y", "type": "string"}})
        ),
    )
    assert CANARY in sensitive_values(st.document)
    text = json.dumps(mask_state(st.document))
    assert quote_plus(CANARY) not in text and quote(CANARY, safe="") not in text and CANARY not in text


def test_container_definitions_stay_a_json_string_with_the_value_masked() -> None:
    attrs = {"container_definitions": _container_definitions([{"name": "DB_PASSWORD", "value": CANARY}])}
    masked = json.loads(_show(attrs))["resources"][0]["instances"][0]["attributes"]
    (container,) = json.loads(masked["container_definitions"])
    assert container["environment"] == [{"name": "DB_PASSWORD", "value": MASK}]
    assert container["image"] == "app:1"


def test_a_marked_secret_is_hidden_inside_an_encoded_attribute() -> None:
    # The provider marked `master_password`; the same value sits JSON-escaped in a document.
    attrs = {
        "master_password": 'pa"ss\\word-' + OTHER,
        "rendered": json.dumps({"note": 'pa"ss\\word-' + OTHER}),
    }
    text = _show(attrs, marked=["master_password"])
    assert OTHER not in text


def test_diff_shows_non_secret_changes_in_a_document_with_a_secret() -> None:
    old = {"container_definitions": _container_definitions([{"name": "DB_PASSWORD", "value": CANARY}], cpu=256)}
    new = {"container_definitions": _container_definitions([{"name": "DB_PASSWORD", "value": OTHER}], cpu=512)}
    (change,) = diff_states(
        state(resource("aws_ecs_task_definition", "a", instance(old))),
        state(resource("aws_ecs_task_definition", "a", instance(new)), serial=2),
    ).changed
    (attr,) = change.attributes
    # the cpu change is visible (rendered, truncated to 80 characters), the secrets are not
    assert not attr.sensitive and attr.new is not None and "512" in attr.new
    assert CANARY not in repr(change) and OTHER not in repr(change)


def test_a_change_only_in_a_hidden_part_is_named_not_shown() -> None:
    old = {"settings": {"password": CANARY, "port": 5432}}
    new = {"settings": {"password": OTHER, "port": 5432}}
    (change,) = diff_states(
        state(resource("aws_thing", "a", instance(old))), state(resource("aws_thing", "a", instance(new)), serial=2)
    ).changed
    assert change.attributes[0].sensitive and change.attributes[0].new is None


def test_secret_named_output_is_masked_without_the_sensitive_flag() -> None:
    st = state(
        outputs={"api_token": {"value": CANARY, "type": "string"}, "vpc_id": {"value": "vpc-1", "type": "string"}}
    )
    masked = mask_state(st.document)
    assert masked["outputs"]["api_token"]["value"] == MASK
    assert masked["outputs"]["vpc_id"]["value"] == "vpc-1"
