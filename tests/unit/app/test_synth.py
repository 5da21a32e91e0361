"""Synthesized JSON of every environment: names, backend, provider, tags, state bucket."""

from __future__ import annotations

import json

import pytest

from app.config import load_all
from tests.helpers.synth import Synth

ENVS = ["dev", "local", "prod", "staging"]


def test_every_environment_has_its_stacks_named_env_concern(synthesized: Synth) -> None:
    names = synthesized.stack_names()
    for env in ENVS:
        assert f"{env}-state" in names
    assert all(name.split("-", 1)[0] in ENVS for name in names)


@pytest.mark.parametrize("env", ENVS)
def test_non_state_stacks_use_the_encrypted_locked_s3_backend(synthesized: Synth, env: str) -> None:
    cfg = {e.name: e for e in load_all()}[env]
    for name in synthesized.stack_names():
        if not name.startswith(f"{env}-"):
            continue
        backend = synthesized.stack(name)["terraform"]["backend"]
        assert list(backend) == ["s3"], f"{name} must keep its state in S3"
        s3 = backend["s3"]
        assert s3["bucket"] == cfg.state.bucket
        assert s3["key"] == f"{env}/{name}.tfstate"
        assert s3["encrypt"] is True
        assert s3["use_lockfile"] is True
        assert s3["kms_key_id"].endswith(f":alias/{cfg.state.bucket}")
        assert "dynamodb_table" not in s3  # S3 native locking is the default


@pytest.mark.parametrize("env", ENVS)
def test_provider_region_account_guard_and_default_tags(synthesized: Synth, env: str) -> None:
    cfg = {e.name: e for e in load_all()}[env]
    stack = synthesized.stack(f"{env}-state")
    (provider,) = stack["provider"]["aws"]
    assert provider["region"] == cfg.aws.region
    assert provider["allowed_account_ids"] == [cfg.aws.account_id or "123456789012"]
    tags = provider["default_tags"][0]["tags"]
    assert tags == {"env": env, "stack": f"{env}-state", "repo": "platform-provisioner", "managed-by": "terraform"}
    # The offline 5.100.0 provider must satisfy the constraint.
    assert stack["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"


def test_only_local_points_at_the_emulator(synthesized: Synth) -> None:
    for env in ENVS:
        stack = synthesized.stack(f"{env}-state")
        (provider,) = stack["provider"]["aws"]
        backend = stack["terraform"]["backend"]["s3"]
        if env == "local":
            assert set(provider["endpoints"][0].values()) == {"http://127.0.0.1:4566"}
            assert backend["endpoints"]["s3"] == "http://127.0.0.1:4566" and backend["use_path_style"] is True
        else:
            assert "endpoints" not in provider and "endpoints" not in backend
            assert "access_key" not in provider and "access_key" not in backend


def test_prod_state_bucket_is_locked_down(synthesized: Synth) -> None:
    name = "prod-state"
    # The state key; the CI signing keys (SIGN_VERIFY) beside it are tests/unit/stacks/test_ci_signing_keys.py's.
    (key,) = [k for k in synthesized.resources(name, "aws_kms_key").values() if k.get("key_usage") != "SIGN_VERIFY"]
    assert key["enable_key_rotation"] is True and key["lifecycle"]["prevent_destroy"] is True
    bucket = synthesized.one(name, "aws_s3_bucket")
    assert bucket["bucket"] == "acme-platform-prod-tfstate" and bucket["lifecycle"]["prevent_destroy"] is True
    assert synthesized.one(name, "aws_s3_bucket_versioning")["versioning_configuration"]["status"] == "Enabled"
    (rule,) = synthesized.one(name, "aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    assert rule["apply_server_side_encryption_by_default"]["kms_master_key_id"].startswith("${aws_kms_key.")
    pab = synthesized.one(name, "aws_s3_bucket_public_access_block")
    assert all(
        pab[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    own = synthesized.one(name, "aws_s3_bucket_ownership_controls")
    assert own["rule"]["object_ownership"] == "BucketOwnerEnforced"
    (lc,) = synthesized.one(name, "aws_s3_bucket_lifecycle_configuration")["rule"]
    assert lc["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]
    assert "expiration" not in lc  # the current state version never expires
    assert lc["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]
    logging = synthesized.one(name, "aws_s3_bucket_logging")
    assert logging["target_bucket"] == "acme-platform-prod-access-logs"


def test_prod_state_bucket_policy_denies_plain_http_non_kms_uploads_and_version_deletes(synthesized: Synth) -> None:
    policy = json.loads(synthesized.one("prod-state", "aws_s3_bucket_policy")["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Deny" for s in by_sid.values())
    assert by_sid["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_sid["DenyNonKmsUploads"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert by_sid["DenyStateVersionDeletion"]["Action"] == "s3:DeleteObjectVersion"


def test_local_state_bucket_documents_its_emulator_exceptions(synthesized: Synth) -> None:
    policy = json.loads(synthesized.one("local-state", "aws_s3_bucket_policy")["policy"])
    # Conditional denies are left out only for the emulator (see stacks/state.py for why).
    assert [s["Sid"] for s in policy["Statement"]] == ["DenyStateVersionDeletion"]


def test_optional_dynamodb_lock_table_has_pitr_and_sse() -> None:
    """Teams on Terraform < 1.10 opt into a DynamoDB lock table; it is protected like the bucket."""
    import tempfile
    from pathlib import Path

    from app.config import load_environment
    from app.main import build_app

    env = load_environment("prod")
    env = env.model_copy(update={"state": env.state.model_copy(update={"dynamodb_lock_table": True})})
    with tempfile.TemporaryDirectory() as out:
        build_app([env], out).synth()
        stack = json.loads((Path(out) / "stacks" / "prod-state" / "cdk.tf.json").read_text())
    (table,) = stack["resource"]["aws_dynamodb_table"].values()
    assert table["hash_key"] == "LockID"
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"]["enabled"] is True
    assert table["server_side_encryption"]["kms_key_arn"].startswith("${aws_kms_key.")
    # Every stack's backend (the state stack's own included) then locks through the table too.
    assert stack["terraform"]["backend"]["s3"]["dynamodb_table"] == "acme-platform-prod-tfstate-lock"


def test_synth_writes_provider_lock_files_from_the_offline_mirror(synthesized: Synth) -> None:
    from scripts.tfmirror import find_mirror

    if find_mirror() is None:
        pytest.fail("this machine kind carries an offline provider mirror; none was found")
    for name in synthesized.stack_names():
        lock = (synthesized.stack_dir(name) / ".terraform.lock.hcl").read_text()
        assert 'version     = "5.100.0"' in lock and '"h1:' in lock


def test_prod_state_stack_passes_checkov(synthesized: Synth) -> None:
    from tests.helpers.checkov import run_checkov

    failed, passed = run_checkov(synthesized.stack_dir("prod-state"))
    assert failed == [], failed
    assert passed >= 15, "checkov scanned (almost) nothing"
