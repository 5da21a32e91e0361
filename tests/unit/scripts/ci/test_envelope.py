"""Envelope encryption under the environment's pinned KMS key (a real moto server on loopback)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts.ci import envelope
from tests.unit.scripts.ci.kmskeys import kms_client, make_keys


@pytest.fixture(scope="module")
def kms(aws_env: dict[str, str]) -> Any:
    return kms_client(aws_env["AWS_ENDPOINT_URL"])


@pytest.fixture(scope="module")
def key_id(kms: Any) -> str:
    return make_keys(kms).encryption


def test_seal_and_open_round_trip_without_the_payload_in_clear(kms: Any, key_id: str) -> None:
    payload = b"plan bytes holding a password: hunter2"
    sealed = envelope.seal(payload, kms=kms, key_id=key_id, environment="dev")
    assert b"hunter2" not in sealed
    assert json.loads(sealed)["key_id"] == envelope.key_arn(kms, key_id)  # the ARN, not the alias
    assert envelope.open_sealed(sealed, kms=kms, environment="dev", key_id=key_id) == payload


def test_a_flipped_byte_a_header_edit_or_another_environment_fail_to_open(kms: Any, key_id: str) -> None:
    sealed = json.loads(envelope.seal(b"payload", kms=kms, key_id=key_id, environment="dev"))
    with pytest.raises(envelope.EnvelopeError, match="sealed for environment 'dev', not 'prod'"):
        envelope.open_sealed(json.dumps(sealed).encode(), kms=kms, environment="prod", key_id=key_id)
    moved = {**sealed, "environment": "prod"}  # relabelled: KMS context and GCM data both disagree
    with pytest.raises(envelope.EnvelopeError, match="KMS refused"):
        envelope.open_sealed(json.dumps(moved).encode(), kms=kms, environment="prod", key_id=key_id)
    old_format = {**sealed, "format": "platform-ci-envelope/1"}
    with pytest.raises(envelope.EnvelopeError, match="unknown envelope format"):
        envelope.open_sealed(json.dumps(old_format).encode(), kms=kms, environment="dev", key_id=key_id)
    ct = sealed["ciphertext"]
    flipped = {**sealed, "ciphertext": ct[:10] + ("A" if ct[10] != "A" else "B") + ct[11:]}
    with pytest.raises(envelope.EnvelopeError, match="modified after it was sealed"):
        envelope.open_sealed(json.dumps(flipped).encode(), kms=kms, environment="dev", key_id=key_id)
    with pytest.raises(envelope.EnvelopeError, match="not a readable bundle envelope"):
        envelope.open_sealed(b"{}", kms=kms, environment="dev", key_id=key_id)


def test_decryption_is_pinned_to_the_environments_key(kms: Any, key_id: str) -> None:
    """A bundle sealed under another key the runner can decrypt is refused, relabelled or not."""
    foreign = make_keys(kms).encryption
    sealed = json.loads(envelope.seal(b"payload", kms=kms, key_id=foreign, environment="dev"))
    with pytest.raises(envelope.EnvelopeError, match="not the environment's key"):
        envelope.open_sealed(json.dumps(sealed).encode(), kms=kms, environment="dev", key_id=key_id)
    relabelled = {**sealed, "key_id": envelope.key_arn(kms, key_id)}  # header names ours, data key is theirs
    with pytest.raises(envelope.EnvelopeError, match="KMS refused"):
        envelope.open_sealed(json.dumps(relabelled).encode(), kms=kms, environment="dev", key_id=key_id)
    # Positive control: the foreign bundle is fine under its own key.
    assert envelope.open_sealed(json.dumps(sealed).encode(), kms=kms, environment="dev", key_id=foreign) == b"payload"

