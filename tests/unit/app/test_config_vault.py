"""`[vault]` of the environment files: self-hosted needs ARNs (never material), external needs the
server's principal, production keeps Vault's HA and deletion protection. Rejected before Terraform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.config import load_environment
from tests.unit.app.test_config import DEV, PROD, problems, write_env

PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"
VAULT_SERVER = "arn:aws:iam::444455556666:role/vault-server"


def _fields(lines: list[str]) -> list[str]:
    return [line.split(": ")[1] for line in lines]


def test_self_hosted_requires_the_three_tls_arns(tmp_path: Path) -> None:
    write_env(
        tmp_path, DEV, vault__lb_certificate_arn=None, vault__tls_cert_secret_arn=None, vault__tls_key_secret_arn=None
    )
    lines = problems(tmp_path, "dev")
    assert _fields(lines) == ["vault.lb_certificate_arn", "vault.tls_cert_secret_arn", "vault.tls_key_secret_arn"]
    assert all("required for vault.mode = 'self-hosted'" in line for line in lines)


def test_pasted_key_material_is_refused_and_never_echoed(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, vault__tls_key_secret_arn=PEM_KEY)
    (line,) = problems(tmp_path, "dev")
    assert line.startswith(f"{tmp_path}/dev.toml: vault.tls_key_secret_arn: ")
    assert "pass the ARN, never the certificate or key itself" in line
    assert "MIIE" not in line and "BEGIN" not in line


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lb_certificate_arn", "arn:aws:acm:eu-west-1:999999999999:certificate/abc", "belongs to account 999999999999"),
        ("lb_certificate_arn", "arn:aws:acm:us-east-1:333333333333:certificate/abc", "is in us-east-1"),
        ("lb_certificate_arn", "arn:aws:iam::333333333333:server-certificate/vault", "must be an ACM certificate ARN"),
        ("tls_cert_secret_arn", "arn:aws:s3:::bucket/tls.crt", "Secrets Manager secret or SSM parameter"),
        ("tls_secrets_kms_key_arn", "alias/vault", "must be a KMS key ARN"),
        ("lb_access_logs_bucket", "Not_A_Bucket", "not a valid S3 bucket name"),
        ("desired_count", 0, "must be at least 1"),
        ("dns_name", "vault.internal", "at least three lowercase labels"),
        ("dns_name", "Vault.Dev.Internal", "at least three lowercase labels"),
        ("dns_name", "vault_dev.corp.internal", "at least three lowercase labels"),
        ("server_principal_arns", [VAULT_SERVER], "only used with vault.mode = 'external'"),
    ],
)
def test_bad_self_hosted_fields_name_the_field(tmp_path: Path, field: str, value: Any, message: str) -> None:
    write_env(tmp_path, DEV, **{f"vault__{field}": value})
    (line,) = problems(tmp_path, "dev")
    assert line.startswith(f"{tmp_path}/dev.toml: vault.{field}: ") and message in line, line


def test_ssm_parameters_and_a_custom_kms_key_are_accepted(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        DEV,
        vault__tls_cert_secret_arn="arn:aws:ssm:eu-west-1:333333333333:parameter/vault/tls/cert",
        vault__tls_key_secret_arn="arn:aws:ssm:eu-west-1:333333333333:parameter/vault/tls/key",
        vault__tls_secrets_kms_key_arn="arn:aws:kms:eu-west-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    env = load_environment("dev", tmp_path)
    assert env.vault.tls_key_secret_arn == "arn:aws:ssm:eu-west-1:333333333333:parameter/vault/tls/key"


def test_production_needs_access_logs_and_keeps_ha_and_deletion_protection(tmp_path: Path) -> None:
    write_env(
        tmp_path, PROD, vault__lb_access_logs_bucket=None, vault__desired_count=1, vault__deletion_protection=False
    )
    lines = problems(tmp_path, "prod")
    assert _fields(lines) == ["vault.lb_access_logs_bucket", "vault.desired_count", "vault.deletion_protection"]
    assert 'unsafe_overrides."vault.desired_count"' in lines[1]

    write_env(
        tmp_path,
        PROD,
        vault__desired_count=1,
        vault__deletion_protection=False,
        unsafe_overrides={"vault.desired_count": "cost drill OPS-7", "vault.deletion_protection": "teardown OPS-8"},
    )
    assert load_environment("prod", tmp_path).vault.desired_count == 1


def _external(**vault: Any) -> dict[str, Any]:
    return {"mode": "external", "address": "https://vault.example.com:8200", **vault}


def test_external_vault_needs_its_server_principal_outside_local(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, vault=_external())
    (line,) = problems(tmp_path, "dev")
    assert "vault.server_principal_arns: required for an external Vault" in line

    write_env(tmp_path, DEV, vault=_external(server_principal_arns=["arn:aws:iam::444455556666:root"]))
    (line,) = problems(tmp_path, "dev")
    assert "vault.server_principal_arns[0]: not an IAM role or user ARN" in line

    write_env(tmp_path, DEV, vault=_external(server_principal_arns=[VAULT_SERVER]))
    assert load_environment("dev", tmp_path).vault.server_principal_arns == [VAULT_SERVER]


def test_external_vault_refuses_self_hosted_settings(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        DEV,
        vault=_external(server_principal_arns=[VAULT_SERVER], lb_certificate_arn=DEV["vault"]["lb_certificate_arn"]),
    )
    (line,) = problems(tmp_path, "dev")
    assert "vault.lb_certificate_arn: only used with vault.mode = 'self-hosted'" in line


def test_shipped_environments_keep_only_arns_in_vault_settings() -> None:
    for name in ("dev", "staging", "prod"):
        v = load_environment(name).vault
        assert v.mode == "self-hosted"
        for value in (v.lb_certificate_arn, v.tls_cert_secret_arn, v.tls_key_secret_arn):
            assert value is not None and value.startswith("arn:aws:")
    local = load_environment("local").vault
    assert (local.mode, local.address, local.server_principal_arns) == ("external", "http://127.0.0.1:8200", [])


def test_vault_dns_name_defaults_per_environment_and_can_be_set(tmp_path: Path) -> None:
    write_env(tmp_path, DEV)
    assert load_environment("dev", tmp_path).vault_dns_name == "vault.dev.internal"
    write_env(tmp_path, DEV, vault__dns_name="vault.dev.corp.example")
    assert load_environment("dev", tmp_path).vault_dns_name == "vault.dev.corp.example"
