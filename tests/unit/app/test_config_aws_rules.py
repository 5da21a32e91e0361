"""Issue 14, item 1: what AWS, PostgreSQL or Vault would refuse at plan/apply time is refused by
`load_environment` first - one row per rule, each naming file and field - and no message echoes a
secret. Item 2: production cannot be switched off by relabelling `tier`."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app import aws_rules
from app.config import CONFIG_DIR_ENV, load_environment
from scripts.commands.core import validate
from tests.unit.app.test_config import DEV, PROD, problems, write_env

PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"
CANARY = "hunter2canary"

# An external Vault environment (dev's shape) for the address rules.
EXTERNAL = copy.deepcopy(DEV)
EXTERNAL["vault"] = {
    "mode": "external",
    "address": "https://vault.internal:8200",
    "server_principal_arns": ["arn:aws:iam::333333333333:role/vault-server"],
}
SUBNETS_29 = {
    "network__public_subnets": ["10.10.0.0/29", "10.10.0.8/29"],
    "network__private_subnets": ["10.10.1.0/24", "10.10.2.0/24"],
    "network__isolated_subnets": ["10.10.3.0/24", "10.10.4.0/24"],
}

# (id, base file, dotted changes, expected field, expected part of the message)
ROWS: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # S3 bucket names (S3 User Guide naming rules); the state bucket's name is its KMS alias too.
    ("bucket-dots-kms-alias", DEV, {"state__bucket": "acme.platform.tfstate"}, "state.bucket", "KMS key alias"),
    ("bucket-ip-shaped", DEV, {"state__bucket": "192.168.10.20"}, "state.bucket", "IP address"),
    ("bucket-reserved-prefix", DEV, {"state__bucket": "xn--platform-state"}, "state.bucket", "reserved prefix"),
    ("bucket-reserved-suffix", DEV, {"state__bucket": "platform-state-s3alias"}, "state.bucket", "reserved suffix"),
    ("state-access-log-bucket", DEV, {"state__access_log_bucket": "Logs_Bucket"}, "state.access_log_bucket",
     "not a valid S3 bucket name"),
    ("alb-access-logs-bucket", PROD, {"load_balancer__access_logs_bucket": "alb..logs"},
     "load_balancer.access_logs_bucket", "adjacent periods"),
    ("vault-logs-bucket-prefix", DEV, {"vault__lb_access_logs_bucket": "sthree-logs"}, "vault.lb_access_logs_bucket",
     "reserved prefix"),
    # VPC CIDRs AWS refuses (VPC User Guide) and subnets below /28.
    ("vpc-loopback", DEV, {"network__cidr": "127.0.0.0/16"}, "network.cidr", "loopback"),
    ("vpc-multicast", DEV, {"network__cidr": "224.1.0.0/16"}, "network.cidr", "multicast"),
    ("vpc-link-local", DEV, {"network__cidr": "169.254.0.0/16"}, "network.cidr", "link-local"),
    ("subnet-below-28", DEV, SUBNETS_29, "network.public_subnets[0]", "smaller than /28"),
    # RDS (botocore rds model pattern; RDS storage limits) and PostgreSQL reserved words.
    ("rds-instance-class", DEV, {"database__instance_class": "db.large"}, "database.instance_class", "RDS class"),
    ("rds-storage-max", DEV, {"database__allocated_storage": 70000, "database__max_allocated_storage": 70000},
     "database.allocated_storage", "maximum is 65536"),
    ("rds-autoscaling-max", DEV, {"database__max_allocated_storage": 70000}, "database.max_allocated_storage",
     "at most 65536"),
    ("rds-autoscaling-headroom", DEV, {"database__max_allocated_storage": 21}, "database.max_allocated_storage",
     "10%"),
    ("pg-reserved-user", DEV, {"database__master_username": "user"}, "database.master_username", "reserved"),
    ("pg-reserved-database", DEV, {"database__database_name": "select"}, "database.database_name", "reserved"),
    ("rds-reserved-database", DEV, {"database__database_name": "template1"}, "database.database_name", "reserved"),
    # Regions (botocore endpoints.json) and Availability Zones.
    ("region-unknown", DEV, {"aws__region": "eu-west-9"}, "aws.region", "not an AWS region"),
    ("az-unknown", PROD, {"network__availability_zones": ["eu-west-1a", "eu-west-1b", "eu-west-1d"]},
     "network.availability_zones[2]", "no such zone"),
    # Certificates: malformed, another region, partition or account.
    ("alb-cert-region", PROD, {"load_balancer__certificate_arn": "arn:aws:acm:us-east-1:111111111111:certificate/abc"},
     "load_balancer.certificate_arn", "is in us-east-1"),
    ("alb-cert-partition", PROD,
     {"load_balancer__certificate_arn": "arn:aws-cn:acm:eu-west-1:111111111111:certificate/abc"},
     "load_balancer.certificate_arn", "partition 'aws-cn'"),
    ("alb-cert-account", PROD, {"load_balancer__certificate_arn": "arn:aws:acm:eu-west-1:999999999999:certificate/a"},
     "load_balancer.certificate_arn", "belongs to account 999999999999"),
    ("vault-cert-partition", DEV,
     {"vault__lb_certificate_arn": "arn:aws-us-gov:acm:eu-west-1:333333333333:certificate/abc"},
     "vault.lb_certificate_arn", "partition 'aws-us-gov'"),
    # Vault: reserved mounts, addresses, digests, an address next to a self-hosted Vault.
    ("vault-mount-sys", DEV, {"vault__kv_mount": "sys"}, "vault.kv_mount", "reserved"),
    ("vault-mount-auth", DEV, {"vault__kv_mount": "auth/kv"}, "vault.kv_mount", "reserved"),
    ("vault-mount-chars", DEV, {"vault__kv_mount": "my secrets"}, "vault.kv_mount", "not a Vault mount path"),
    ("vault-address-port", EXTERNAL, {"vault__address": "https://vault.internal:99999"}, "vault.address", "port"),
    ("vault-address-scheme", EXTERNAL, {"vault__address": "ftp://vault.internal:8200"}, "vault.address", "https://"),
    ("vault-address-credentials", EXTERNAL, {"vault__address": f"https://admin:{CANARY}@vault.internal:8200"},
     "vault.address", "must not contain credentials"),
    ("vault-address-path", EXTERNAL, {"vault__address": "https://vault.internal:8200/v1/sys"}, "vault.address",
     "no path"),
    ("vault-address-with-self-hosted", DEV, {"vault__address": "https://vault.internal:8200"}, "vault.address",
     "only used with vault.mode = 'external'"),
    ("vault-image-unpinned", DEV, {"vault__image": "hashicorp/vault:latest"}, "vault.image", "pin a version tag"),
    ("vault-image-tag-in-prod", PROD, {"vault__image": "hashicorp/vault:1.17.6"}, "vault.image", "digest"),
    # Secrets where they would leak (task definitions, plans, logs) - and never echoed.
    ("password-in-command", DEV, {"services__app__command": ["psql", f"postgres://app:{CANARY}@db/app"]},
     "services.app.command[1]", "contains a credential"),
    ("password-in-migration", DEV, {"migration__command": ["migrate", f"--password={CANARY}"]},
     "migration.command[1]", "contains a credential"),
    ("password-in-variable", DEV, {"services__app__environment": {"DB": f"postgres://app:{CANARY}@db/app"}},
     "services.app.environment.DB", "contains a credential"),
    ("key-pasted-as-override", PROD, {"unsafe_overrides": {PEM_KEY: "x"}}, "unsafe_overrides.<key not shown>",
     "not an overridable safety setting"),
    ("key-pasted-as-field", DEV, {"aws__" + PEM_KEY: True}, "aws.<key not shown>", "unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("base", "changes", "field", "message"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_aws_would_refuse_it_so_validation_does(
    tmp_path: Path, base: dict[str, Any], changes: dict[str, Any], field: str, message: str
) -> None:
    write_env(tmp_path, base, **changes)
    lines = problems(tmp_path, base["name"])
    prefix = f"{tmp_path}/{base['name']}.toml: {field}: "
    assert any(line.startswith(prefix) and message in line for line in lines), lines
    text = "\n".join(lines)
    assert CANARY not in text and "MIIE" not in text and "BEGIN" not in text


def test_every_az_moto_reports_is_accepted() -> None:
    """The hand-written AZ letters agree with moto's copy of DescribeAvailabilityZones."""
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    for region, zones in RegionsAndZonesBackend.zones.items():
        if region in aws_rules.AZ_LETTERS:
            assert [z.name for z in zones if aws_rules.az_problem(region, z.name)] == [], region


def test_shipped_regions_and_every_botocore_region_pass() -> None:
    assert "eu-west-1" in aws_rules.known_regions() and aws_rules.region_partition("cn-north-1") == "aws-cn"
    assert aws_rules.region_partition("eu-west-9") is None


# --- configuration directory and files -------------------------------------------------------------


def _validate_cli(directory: Path) -> Any:
    return CliRunner().invoke(validate, [], env={CONFIG_DIR_ENV: str(directory)})


@pytest.mark.parametrize("kind", ["missing", "empty", "a-file"])
def test_no_environment_files_is_an_error_not_valid(tmp_path: Path, kind: str) -> None:
    directory = tmp_path / "environments"
    if kind == "empty":
        directory.mkdir()
    elif kind == "a-file":
        directory.write_text("")
    result = _validate_cli(directory)
    assert result.exit_code == 64, result.output
    assert "valid:" not in result.output and "<directory>" in result.output
    assert str(directory) in result.output


def test_invalid_utf8_exits_2_naming_the_file(tmp_path: Path) -> None:
    write_env(tmp_path, DEV)
    (tmp_path / "qa.toml").write_bytes(b'name = "qa\xff"\n')
    result = _validate_cli(tmp_path)
    assert result.exit_code == 64 and "qa.toml: <file>: not UTF-8 text" in result.output, result.output


def test_a_file_name_that_is_not_utf8_is_reported_not_a_traceback(tmp_path: Path) -> None:
    write_env(tmp_path, DEV)
    os.close(os.open(os.fsencode(tmp_path) + b"/q\xffa.toml", os.O_CREAT | os.O_WRONLY, 0o600))
    result = _validate_cli(tmp_path)
    assert result.exit_code == 64 and isinstance(result.exception, SystemExit), result.exception
    assert "q\ufffda.toml" in result.output, result.output


# --- item 2: production by identity ---------------------------------------------------------------


def test_relabelled_prod_fails_and_keeps_the_production_rules(tmp_path: Path) -> None:
    write_env(tmp_path, PROD, tier="non-production", database__deletion_protection=False)
    lines = problems(tmp_path, "prod")
    fields = [line.split(": ")[1] for line in lines]
    assert "tier" in fields and "database.deletion_protection" in fields, lines
    assert any('unsafe_overrides."tier"' in line for line in lines)


def test_relabelling_prod_needs_a_written_reason(tmp_path: Path) -> None:
    reason = {"tier": "migration rehearsal, OPS-7"}
    write_env(tmp_path, PROD, tier="non-production", unsafe_overrides=reason, network__availability_zones=None)
    env = load_environment("prod", tmp_path)
    assert env.tier == "non-production" and not env.is_production and env.network.az_count == 2

    write_env(tmp_path, PROD, tier="non-production", unsafe_overrides={"tier": "  "})
    assert any("unsafe_overrides.tier: needs a written reason" in line for line in problems(tmp_path, "prod"))


@pytest.mark.parametrize("name", ["production", "prodeu", "prd", "live"])
def test_any_production_name_is_production(tmp_path: Path, name: str) -> None:
    write_env(tmp_path, DEV, name=name)
    assert any(line.split(": ")[1] == "tier" for line in problems(tmp_path, name))


def test_a_tier_override_on_a_non_production_name_is_refused(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, unsafe_overrides={"tier": "because"})
    lines = problems(tmp_path, "dev")
    assert any("unsafe_overrides.tier: only for an environment whose name reads as production" in x for x in lines)


# --- a secret pasted into any field is never echoed -----------------------------------------------


def _leaves(data: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _leaves(value, (*path, key))
        out.append((*path, key))
    return out


PASTED = [PEM_KEY, f"postgres://admin:{CANARY}@db.internal/app", f"--password={CANARY}"]


@pytest.mark.parametrize("base", [DEV, PROD, EXTERNAL], ids=["dev", "prod", "external"])
def test_a_secret_pasted_into_any_field_is_never_echoed(base: dict[str, Any]) -> None:
    from app.config import ConfigError, parse_environment

    leaked = []
    for path in _leaves(base):
        for secret in PASTED:
            data = copy.deepcopy(base)
            node = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = secret
            try:
                parse_environment(data, "x.toml", base["name"])
            except ConfigError as exc:
                if CANARY in str(exc) or "MIIE" in str(exc):
                    leaked.append(".".join(path))
    assert leaked == []
