"""Envelope encryption under a KMS key of the emulator (a real moto server on loopback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.ci import bundle, envelope
from scripts.ci.exitcodes import STALE, CiError
from scripts.ci.manifest import PLANNED, Manifest, StackEntry, StateRef


@pytest.fixture(scope="module")
def kms(aws_env: dict[str, str]) -> Any:
    return boto3.client("kms", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture(scope="module")
def key_id(kms: Any) -> str:
    return str(kms.create_key(Description="ci bundle test")["KeyMetadata"]["KeyId"])


def _manifest() -> Manifest:
    return Manifest("dev", "b", "2026-01-01T00:00:00+00:00", "2026-01-01T08:00:00+00:00", "c", "1.11.4",
                    [StackEntry("dev-network", PLANNED, [], "s", "l", StateRef(False), True, "p", "j")])


def test_seal_and_open_round_trip_without_the_payload_in_clear(kms: Any, key_id: str) -> None:
    payload = b"plan bytes holding a password: hunter2"
    sealed = envelope.seal(payload, kms=kms, key_id=key_id, environment="dev")
    assert b"hunter2" not in sealed
    assert envelope.open_sealed(sealed, kms=kms, environment="dev") == payload


def test_a_flipped_byte_a_header_edit_or_another_environment_fail_to_open(kms: Any, key_id: str) -> None:
    sealed = json.loads(envelope.seal(b"payload", kms=kms, key_id=key_id, environment="dev"))
    with pytest.raises(envelope.EnvelopeError, match="sealed for environment 'dev', not 'prod'"):
        envelope.open_sealed(json.dumps(sealed).encode(), kms=kms, environment="prod")
    moved = {**sealed, "environment": "prod"}  # relabelled: KMS context and GCM data both disagree
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_sealed(json.dumps(moved).encode(), kms=kms, environment="prod")
    ct = sealed["ciphertext"]
    flipped = {**sealed, "ciphertext": ct[:10] + ("A" if ct[10] != "A" else "B") + ct[11:]}
    with pytest.raises(envelope.EnvelopeError, match="modified after it was sealed"):
        envelope.open_sealed(json.dumps(flipped).encode(), kms=kms, environment="dev")
    with pytest.raises(envelope.EnvelopeError, match="not a readable bundle envelope"):
        envelope.open_sealed(b"{}", kms=kms, environment="dev")


def test_bundle_on_disk_reads_back_and_refuses_an_edited_plaintext_manifest(kms: Any, key_id: str,
                                                                            tmp_path: Path) -> None:
    files = {bundle.plan_member("dev-network"): b"PLAN", bundle.plan_json_member("dev-network"): b"{}"}
    bundle.write(tmp_path, _manifest(), files, kms=kms, key_id=key_id)
    manifest, read_back = bundle.read(tmp_path, kms=kms, environment="dev")
    assert manifest == _manifest() and read_back == files
    assert b"PLAN" not in (tmp_path / bundle.SEALED).read_bytes()
    text = (tmp_path / "manifest.json").read_text().replace('"c"', '"d"')
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(CiError, match="differs from the sealed manifest") as err:
        bundle.read(tmp_path, kms=kms, environment="dev")
    assert err.value.exit_code == STALE


def test_unsealed_files_live_in_a_private_directory_removed_afterwards() -> None:
    with bundle.unsealed({"stacks/a/plan.tfplan": b"x"}) as root:
        assert (root.stat().st_mode & 0o777) == 0o700
        assert ((root / "stacks/a/plan.tfplan").stat().st_mode & 0o777) == 0o600
    assert not root.exists()
