"""Locating state objects and parsing state documents (no AWS needed)."""

from __future__ import annotations

import pytest

from app.config import load_environment
from scripts.state import store
from scripts.state.errors import ConfigurationError, InvalidState
from scripts.state.restore import LockInfo
from tests.helpers.synth import Synth


def test_location_matches_the_backend_configuration_of_the_stacks(synthesized: Synth) -> None:
    """The tools must find state exactly where the synthesized S3 backend puts it."""
    env = load_environment("prod")
    backend = synthesized.stack("prod-state")["terraform"]["backend"]["s3"]
    location = store.locate(env, "prod-state")
    assert (location.bucket, location.key) == (backend["bucket"], backend["key"]) == (
        "acme-platform-prod-tfstate",
        "prod/prod-state.tfstate",
    )
    assert location.lock_key == "prod/prod-state.tfstate.tflock"


@pytest.mark.parametrize("stack", ["staging-network", "network", "prod-", "prodnetwork"])
def test_stack_of_another_environment_is_a_usage_error(stack: str) -> None:
    env = load_environment("prod")
    with pytest.raises(ConfigurationError, match="does not belong to environment 'prod'") as err:
        store.locate(env, stack)
    assert err.value.exit_code == 64


def test_unknown_environment_is_a_usage_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown environment 'nope'"):
        store.resolve_environment("nope")


def test_parse_state_reads_the_fields() -> None:
    doc = b'{"version": 4, "terraform_version": "1.11.4", "serial": 7, "lineage": "L", "resources": []}'
    st = store.parse_state(doc)
    assert (st.serial, st.lineage, st.terraform_version) == (7, "L", "1.11.4")
    assert (st.resources, st.outputs) == ([], {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'{"hello": 1}', "not a Terraform state document"),
        (b'{"version": 3, "serial": 1, "lineage": "L"}', "format version 3"),
        (b'{"version": 4, "serial": "x", "lineage": "L"}', "non-numeric serial"),
    ],
)
def test_parse_state_rejects_non_state(data: bytes, message: str) -> None:
    with pytest.raises(InvalidState, match=message):
        store.parse_state(data)


def test_lock_info_describes_the_holder() -> None:
    raw = (
        b'{"ID":"0b3e","Operation":"OperationTypeApply","Info":"","Who":"ana@laptop",'
        b'"Version":"1.11.4","Created":"2025-01-02T03:04:05Z","Path":"b/k"}'
    )
    text = LockInfo.parse(raw).describe()
    assert text == "held by ana@laptop for OperationTypeApply since 2025-01-02T03:04:05Z (lock id 0b3e)"
    assert "held by unknown" in LockInfo.parse(b"garbage").describe()
