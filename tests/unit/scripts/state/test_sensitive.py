"""Masking: no secret value of a state document survives `mask_state`."""

from __future__ import annotations

import json
from typing import Any

from scripts.state.sensitive import MASK, mask_state, sensitive_values
from tests.unit.scripts.state.factories import attr_path, instance, resource, state

SECRET = "s3cr3t-Pa55word"


def _rendered(doc: dict) -> str:
    return json.dumps(mask_state(doc))


def test_marked_attribute_is_masked_and_others_are_kept() -> None:
    st = state(
        resource(
            "aws_db_instance",
            "main",
            instance({"id": "db-1", "password": SECRET, "engine": "postgres"}, [attr_path("password")]),
        )
    )
    masked = mask_state(st.document)
    attrs = masked["resources"][0]["instances"][0]["attributes"]
    assert attrs == {"id": "db-1", "password": MASK, "engine": "postgres"}
    # the input document is not modified
    assert st.document["resources"][0]["instances"][0]["attributes"]["password"] == SECRET


def test_unmarked_copy_of_a_secret_is_masked_too() -> None:
    # terraform_data marks `input` sensitive but stores the same value unmarked in `output`.
    st = state(
        resource(
            "terraform_data",
            "s",
            instance(
                {
                    "id": "x",
                    "input": {"value": SECRET, "type": "string"},
                    "output": {"value": SECRET, "type": "string"},
                },
                [attr_path("input")],
            ),
        )
    )
    text = _rendered(st.document)
    assert SECRET not in text
    assert '"id": "x"' in text


def test_secret_embedded_in_another_string_is_masked() -> None:
    st = state(
        resource("aws_db_instance", "main", instance({"password": SECRET}, [attr_path("password")])),
        resource("aws_ssm_parameter", "dsn", instance({"value": f"postgres://app:{SECRET}@db:5432/app"})),
    )
    assert SECRET not in _rendered(st.document)


def test_sensitive_outputs_are_masked_plain_outputs_kept() -> None:
    st = state(
        outputs={
            "db_password": {"value": SECRET, "type": "string", "sensitive": True},
            "vpc_id": {"value": "vpc-0abc", "type": "string"},
        }
    )
    masked = mask_state(st.document)
    assert masked["outputs"]["db_password"]["value"] == MASK
    assert masked["outputs"]["vpc_id"]["value"] == "vpc-0abc"


def test_secret_looking_names_are_masked_without_marks() -> None:
    st = state(
        resource(
            "random_password",
            "p",
            instance({"id": "none", "result": "x", "bcrypt_hash": "h", "master_password": SECRET}),
        )
    )
    assert SECRET not in _rendered(st.document)


def test_nested_index_path_masks_only_that_element() -> None:
    path: list[dict[str, Any]] = [
        {"type": "get_attr", "value": "tags"},
        {"type": "index", "value": {"value": "token", "type": "string"}},
    ]
    st = state(resource("aws_instance", "a", instance({"tags": {"token": SECRET, "Name": "web"}}, [path])))
    attrs = mask_state(st.document)["resources"][0]["instances"][0]["attributes"]
    assert attrs["tags"] == {"token": MASK, "Name": "web"}


def test_unrecognised_sensitive_paths_hide_the_whole_instance() -> None:
    st = state(resource("x_thing", "a", instance({"id": "1", "blob": SECRET}, [[{"type": "future_step"}]])))
    attrs = mask_state(st.document)["resources"][0]["instances"][0]["attributes"]
    assert attrs == {"id": MASK, "blob": MASK}


def test_short_values_are_not_propagated() -> None:
    # a 2-char sensitive value must not mask every equal string in the document
    st = state(
        resource("a", "x", instance({"flag": "on"}, [attr_path("flag")])),
        resource("a", "y", instance({"flag": "on"})),
    )
    assert sensitive_values(st.document) == set()
    masked = mask_state(st.document)
    assert masked["resources"][1]["instances"][0]["attributes"]["flag"] == "on"


def test_type_names_of_dynamic_values_are_not_treated_as_secrets() -> None:
    st = state(
        resource(
            "terraform_data",
            "s",
            instance({"input": {"value": SECRET, "type": "string"}}, [attr_path("input")]),
        ),
        resource("terraform_data", "a", instance({"input": {"value": "public", "type": "string"}})),
    )
    assert sensitive_values(st.document) == {SECRET}
    masked = mask_state(st.document)
    assert masked["resources"][1]["instances"][0]["attributes"]["input"] == {
        "value": "public",
        "type": "string",
    }
