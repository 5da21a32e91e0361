"""The Vault constructs, asserted on the synthesized Terraform JSON (one synth for the module) and
checked with checkov."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from modules import aws
from modules.cdk import App, TerraformOutput, TerraformStack
from modules.vault_external import ExternalVaultAwsAuth, ExternalVaultAwsAuthProps
from modules.vault_server import SelfHostedVault, SelfHostedVaultProps, validate_pinned_image
from tests.helpers.checkov import run_checkov

STACK = "vault-constructs-test"
CERT_ARN = "arn:aws:acm:eu-west-1:111122223333:certificate/0b1c2d3e-aaaa-bbbb-cccc-000000000000"
TLS_SECRET = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:test-vault-tls-AbCdEf"
CLIENT_SG = "sg-0client000000000"
DNS_NAME = "vault.test.internal"
VAULT_SERVER_ARN = "arn:aws:iam::444455556666:role/external-vault-server"


def server_props(**overrides: Any) -> SelfHostedVaultProps:
    values: dict[str, Any] = {
        "name": "test-vault",
        "vpc_id": "vpc-0fake000000000000",
        "private_subnet_ids": ["subnet-0aaa", "subnet-0bbb"],
        "allowed_client_security_group_ids": [CLIENT_SG],
        "lb_certificate_arn": CERT_ARN,
        "dns_name": DNS_NAME,
        "tls_cert_secret_arn": f"{TLS_SECRET}:certificate::",
        "tls_key_secret_arn": f"{TLS_SECRET}:private_key::",
        "lb_access_logs_bucket": "test-access-logs",
        **overrides,
    }
    return SelfHostedVaultProps(**values)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    outdir = tmp_path_factory.mktemp("vault-synth")
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, STACK)
    aws.provider.AwsProvider(stack, "aws", region="eu-west-1")
    vault = SelfHostedVault(stack, "vault", server_props())
    external = ExternalVaultAwsAuth(
        stack,
        "external",
        ExternalVaultAwsAuthProps(name="test-vault-aws-auth", vault_server_principal_arns=[VAULT_SERVER_ARN]),
    )
    for name, value in {
        "address": vault.address,
        "lb_certificate_arn": vault.lb_certificate_arn,
        "kms_key_arn": vault.kms_key_arn,
        "table_name": vault.table_name,
        "task_role_arn": vault.task_role_arn,
        "aws_auth_role_arn": external.role_arn,
    }.items():
        TerraformOutput(stack, name, value=value)
    app.synth()
    stack_dir = outdir / "stacks" / STACK
    return json.loads((stack_dir / "cdk.tf.json").read_text()), stack_dir


@pytest.fixture(scope="module")
def tf(synth: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return synth[0]


def resources(tf: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return tf["resource"].get(type_, {})


def one(tf: dict[str, Any], type_: str, path_suffix: str) -> tuple[str, dict[str, Any]]:
    """The single resource of `type_` whose construct path ends with `path_suffix`, with its id."""
    found = [(k, v) for k, v in resources(tf, type_).items() if v["//"]["metadata"]["path"].endswith(path_suffix)]
    assert len(found) == 1, f"{type_} {path_suffix}: {[k for k, _ in found]}"
    return found[0]


def ref(type_: str, id_: str, attr: str) -> str:
    return "${" + f"{type_}.{id_}.{attr}" + "}"


def statements(policy: str) -> list[dict[str, Any]]:
    return json.loads(policy)["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def container(tf: dict[str, Any]) -> dict[str, Any]:
    _, td = one(tf, "aws_ecs_task_definition", "vault/task-definition/task-definition")
    (c,) = json.loads(td["container_definitions"])
    return c


def env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["environment"]}


# --- KMS auto-unseal key -------------------------------------------------------------------------


def test_unseal_key_rotates_and_only_the_task_role_may_use_it(tf: dict[str, Any]) -> None:
    _, key = one(tf, "aws_kms_key", "vault/unseal-key")
    role_id, _ = one(tf, "aws_iam_role", "vault/task-role")
    assert key["enable_key_rotation"] is True
    use_actions = {"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:*", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
    users = []
    for st in statements(key["policy"]):
        assert st["Principal"] != "*" and st["Principal"].get("AWS") != "*"
        grants_use = set(as_list(st["Action"])) & (use_actions - {"kms:DescribeKey"})
        if grants_use:
            users.append(st["Principal"])
            assert sorted(as_list(st["Action"])) == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]
    assert users == [{"AWS": ref("aws_iam_role", role_id, "arn")}]
    # The account administers the key (so it can never become unmanageable) without using it.
    root = [s for s in statements(key["policy"]) if str(s["Principal"].get("AWS", "")).endswith(":root")]
    assert len(root) == 1
    admin = as_list(root[0]["Action"])
    assert "kms:PutKeyPolicy" in admin  # KMS refuses a policy that locks its creator out
    # Listed one by one (issue 14, item 9): a wildcard such as kms:Create* includes CreateGrant,
    # with which an administrator grants itself Decrypt.
    assert not [a for a in admin if "*" in a], admin
    assert not set(admin) & {"kms:CreateGrant", "kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom",
                             "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:ImportKeyMaterial"}  # fmt: skip


# --- task role -----------------------------------------------------------------------------------


def test_task_role_may_use_exactly_the_unseal_key_and_the_ha_table(tf: dict[str, Any]) -> None:
    role_id, _ = one(tf, "aws_iam_role", "vault/task-role")
    key_id, _ = one(tf, "aws_kms_key", "vault/unseal-key")
    table_id, _ = one(tf, "aws_dynamodb_table", "vault/ha-table")
    policies = [
        p for p in resources(tf, "aws_iam_role_policy").values() if p["role"] == ref("aws_iam_role", role_id, "id")
    ]
    assert len(policies) == 1
    by_resource: dict[str, set[str]] = {}
    for st in statements(policies[0]["policy"]):
        assert st["Effect"] == "Allow"
        for resource in as_list(st["Resource"]):
            assert "*" not in resource
            by_resource.setdefault(resource, set()).update(as_list(st["Action"]))
    assert set(by_resource) == {ref("aws_kms_key", key_id, "arn"), ref("aws_dynamodb_table", table_id, "arn")}
    assert by_resource[ref("aws_kms_key", key_id, "arn")] == {"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"}
    ddb_actions = by_resource[ref("aws_dynamodb_table", table_id, "arn")]
    assert all(a.startswith("dynamodb:") and "*" not in a for a in ddb_actions)
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"} <= ddb_actions
    assert not ddb_actions & {"dynamodb:DeleteTable", "dynamodb:CreateTable", "dynamodb:UpdateTable"}


def test_execution_role_reads_only_its_log_group_and_the_tls_secret(tf: dict[str, Any]) -> None:
    role_id, _ = one(tf, "aws_iam_role", "vault/task-definition/execution-role")
    log_id, _ = one(tf, "aws_cloudwatch_log_group", "vault/task-definition/logs")
    (policy,) = [
        p for p in resources(tf, "aws_iam_role_policy").values() if p["role"] == ref("aws_iam_role", role_id, "id")
    ]
    granted = {
        (a, r) for st in statements(policy["policy"]) for a in as_list(st["Action"]) for r in as_list(st["Resource"])
    }
    log_streams = ref("aws_cloudwatch_log_group", log_id, "arn") + ":*"
    assert granted == {
        ("logs:CreateLogStream", log_streams),
        ("logs:PutLogEvents", log_streams),
        # The secret itself: the `:json-key::` suffix of valueFrom is not part of the IAM resource.
        ("secretsmanager:GetSecretValue", TLS_SECRET),
    }


# --- TLS -----------------------------------------------------------------------------------------


def test_internal_load_balancer_terminates_tls_on_8200_and_reencrypts_to_the_tasks(tf: dict[str, Any]) -> None:
    lb_id, lb = one(tf, "aws_lb", "vault/lb")
    assert lb["internal"] is True
    assert lb["load_balancer_type"] == "network"
    assert lb["subnets"] == ["subnet-0aaa", "subnet-0bbb"]
    _, listener = one(tf, "aws_lb_listener", "vault/listener")
    assert listener["load_balancer_arn"] == ref("aws_lb", lb_id, "arn")
    assert (listener["port"], listener["protocol"], listener["certificate_arn"]) == (8200, "TLS", CERT_ARN)
    assert listener["ssl_policy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    tg_id, tg = one(tf, "aws_lb_target_group", "vault/tg")
    assert listener["default_action"] == [
        {"type": "forward", "target_group_arn": ref("aws_lb_target_group", tg_id, "arn")}
    ]
    assert (tg["protocol"], tg["port"], tg["target_type"]) == ("TLS", 8200, "ip")
    assert tg["health_check"]["protocol"] == "HTTPS"
    assert tg["health_check"]["path"].startswith("/v1/sys/health?standbyok=true")
    assert tf["output"]["lb_certificate_arn"]["value"] == CERT_ARN


def test_clients_and_vault_use_a_private_dns_name_the_certificate_can_cover(tf: dict[str, Any]) -> None:
    """Issue 14 item 10: not the NLB's own *.elb.amazonaws.com name, which no ACM certificate covers."""
    lb_id, _ = one(tf, "aws_lb", "vault/lb")
    zone_id, zone = one(tf, "aws_route53_zone", "vault/dns-zone")
    _, record = one(tf, "aws_route53_record", "vault/dns-record")
    assert zone["name"] == "test.internal"
    assert zone["vpc"] == [{"vpc_id": "vpc-0fake000000000000"}]  # private: resolvable in the VPC only
    assert (record["name"], record["type"], record["zone_id"]) == (
        DNS_NAME,
        "A",
        ref("aws_route53_zone", zone_id, "zone_id"),
    )
    assert record["alias"] == {
        "name": ref("aws_lb", lb_id, "dns_name"),
        "zone_id": ref("aws_lb", lb_id, "zone_id"),
        "evaluate_target_health": True,
    }
    assert tf["output"]["address"]["value"] == f"https://{DNS_NAME}:8200"
    config = json.loads(env(container(tf))["VAULT_LOCAL_CONFIG"])
    assert config["api_addr"] == f"https://{DNS_NAME}:8200"


@pytest.mark.parametrize("name", ["vault.internal", "Vault.Prod.Internal", "vault..internal", "-v.prod.internal"])
def test_dns_names_the_zone_cannot_hold_are_rejected(name: str) -> None:
    stack = TerraformStack(App(outdir="/tmp/unused-vault-synth"), "s")
    with pytest.raises(ValueError, match=r"^dns_name="):
        SelfHostedVault(stack, "v", server_props(dns_name=name))


def test_rolls_like_every_service_never_below_the_running_count(tf: dict[str, Any]) -> None:
    """The shared FargateService: 100 % minimum healthy (the single-file construct had drifted to 50 %)."""
    _, svc = one(tf, "aws_ecs_service", "vault/service/service")
    assert (svc["deployment_minimum_healthy_percent"], svc["deployment_maximum_percent"]) == (100, 200)
    assert svc["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert "aws_appautoscaling_target" not in tf["resource"]  # a fixed count: one active, the rest standby
    _, td = one(tf, "aws_ecs_task_definition", "vault/task-definition/task-definition")
    assert td["skip_destroy"] is True
    assert {v["name"] for v in td["volume"]} == {"config", "tls"}
    assert "user" not in container(tf)  # the image's entrypoint drops from root to `vault` itself


def test_vault_listens_with_tls_and_uses_dynamodb_ha_and_kms_auto_unseal(tf: dict[str, Any]) -> None:
    config = json.loads(env(container(tf))["VAULT_LOCAL_CONFIG"])
    key_id, _ = one(tf, "aws_kms_key", "vault/unseal-key")
    table_id, _ = one(tf, "aws_dynamodb_table", "vault/ha-table")
    tcp = config["listener"]["tcp"]
    assert tcp["address"] == "0.0.0.0:8200"
    assert tcp["tls_cert_file"] == "/vault/tls/tls.crt" and tcp["tls_key_file"] == "/vault/tls/tls.key"
    assert "tls_disable" not in tcp
    assert config["storage"] == {
        "dynamodb": {
            "ha_enabled": "true",
            "region": config["storage"]["dynamodb"]["region"],
            "table": ref("aws_dynamodb_table", table_id, "name"),
        }
    }
    assert config["seal"]["awskms"]["kms_key_id"] == ref("aws_kms_key", key_id, "key_id")
    assert config["ui"] is False
    assert config["api_addr"].startswith("https://") and config["cluster_addr"].startswith("https://")


def test_task_definition_carries_no_secret_values_only_secret_arns(tf: dict[str, Any]) -> None:
    c = container(tf)
    assert set(env(c)) == {"VAULT_LOCAL_CONFIG", "SKIP_SETCAP"}
    raw_config = env(c)["VAULT_LOCAL_CONFIG"].lower()
    for word in ("token", "unseal_key", "recovery", "secret_key", "access_key", "password", "begin"):
        assert word not in raw_config, word
    assert c["secrets"] == [
        {"name": "VAULT_TLS_CERT", "valueFrom": f"{TLS_SECRET}:certificate::"},
        {"name": "VAULT_TLS_KEY", "valueFrom": f"{TLS_SECRET}:private_key::"},
    ]
    _, td = one(tf, "aws_ecs_task_definition", "vault/task-definition/task-definition")
    assert "-----BEGIN" not in td["container_definitions"]
    # The secrets leave the environment before Vault starts.
    assert "unset VAULT_TLS_CERT VAULT_TLS_KEY; exec docker-entrypoint.sh server" in c["command"][0]


def test_tls_material_props_must_be_arns_not_values() -> None:
    stack = TerraformStack(App(outdir="/tmp/unused-vault-synth"), "s")
    with pytest.raises(ValueError, match="tls_key_secret_arn"):
        SelfHostedVault(stack, "v", server_props(tls_key_secret_arn="-----BEGIN PRIVATE KEY-----\nMIIE..."))


# --- image ---------------------------------------------------------------------------------------


def test_container_runs_the_pinned_official_image_read_only(tf: dict[str, Any]) -> None:
    c = container(tf)
    assert c["image"] == "hashicorp/vault:1.17.6"
    assert c["readonlyRootFilesystem"] is True
    _, svc = one(tf, "aws_ecs_service", "vault/service/service")
    assert svc["desired_count"] == 2
    assert svc["network_configuration"]["assign_public_ip"] is False


@pytest.mark.parametrize(
    "image", ["hashicorp/vault:latest", "hashicorp/vault", "hashicorp/vault:stable", "registry.local:5000/vault"]
)
def test_unpinned_images_are_rejected_naming_the_prop(image: str) -> None:
    stack = TerraformStack(App(outdir="/tmp/unused-vault-synth"), "s")
    with pytest.raises(ValueError, match=r"^image="):
        SelfHostedVault(stack, "v", server_props(image=image))


@pytest.mark.parametrize(
    "image",
    [
        "hashicorp/vault:1.17.6",
        "registry.local:5000/hashicorp/vault:1.17.6-ent",
        "hashicorp/vault@sha256:" + "a" * 64,
    ],
)
def test_version_tags_and_digests_are_accepted(image: str) -> None:
    assert validate_pinned_image(image) == image


# --- network -------------------------------------------------------------------------------------


def test_only_client_sgs_reach_the_lb_and_only_the_lb_reaches_vaults_api(tf: dict[str, Any]) -> None:
    lb_sg, _ = one(tf, "aws_security_group", "vault/lb-sg")
    task_sg, _ = one(tf, "aws_security_group", "vault/service/task-sg")
    rules = list(resources(tf, "aws_vpc_security_group_ingress_rule").values())
    assert all("cidr_ipv4" not in r and "cidr_ipv6" not in r for r in rules)
    seen = {(r["security_group_id"], r["referenced_security_group_id"], r["from_port"], r["to_port"]) for r in rules}
    lb, tasks = ref("aws_security_group", lb_sg, "id"), ref("aws_security_group", task_sg, "id")
    assert seen == {(lb, CLIENT_SG, 8200, 8200), (tasks, lb, 8200, 8200), (tasks, tasks, 8201, 8201)}


# --- storage and logs ----------------------------------------------------------------------------


def test_ha_table_has_pitr_cmk_encryption_and_deletion_protection(tf: dict[str, Any]) -> None:
    _, table = one(tf, "aws_dynamodb_table", "vault/ha-table")
    data_key, _ = one(tf, "aws_kms_key", "vault/data-key")
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": ref("aws_kms_key", data_key, "arn")}
    assert table["deletion_protection_enabled"] is True
    assert (table["hash_key"], table["range_key"]) == ("Path", "Key")
    assert (
        tf["output"]["table_name"]["value"]
        == "${aws_dynamodb_table." + one(tf, "aws_dynamodb_table", "ha-table")[0] + ".name}"
    )


def test_vault_logs_go_to_a_kms_encrypted_log_group(tf: dict[str, Any]) -> None:
    log_id, group = one(tf, "aws_cloudwatch_log_group", "vault/task-definition/logs")
    data_key, _ = one(tf, "aws_kms_key", "vault/data-key")
    assert group["kms_key_id"] == ref("aws_kms_key", data_key, "arn")
    assert group["retention_in_days"] == 365
    logging = container(tf)["logConfiguration"]
    assert logging["logDriver"] == "awslogs"
    assert logging["options"]["awslogs-group"] == ref("aws_cloudwatch_log_group", log_id, "name")


# --- external Vault ------------------------------------------------------------------------------


def test_external_aws_auth_role_is_assumable_only_by_the_vault_server(tf: dict[str, Any]) -> None:
    role_id, role = one(tf, "aws_iam_role", "external/role")
    (trust,) = statements(role["assume_role_policy"])
    assert trust["Principal"] == {"AWS": [VAULT_SERVER_ARN]} and trust["Action"] == "sts:AssumeRole"
    (policy,) = [
        p for p in resources(tf, "aws_iam_role_policy").values() if p["role"] == ref("aws_iam_role", role_id, "id")
    ]
    granted = {a: as_list(st["Resource"]) for st in statements(policy["policy"]) for a in as_list(st["Action"])}
    assert set(granted) == {
        "iam:GetRole",
        "iam:GetUser",
        "iam:GetInstanceProfile",
        "ec2:DescribeInstances",
        "sts:GetCallerIdentity",
    }
    # IAM reads stay within this account's roles, users and instance profiles.
    for action in ("iam:GetRole", "iam:GetUser", "iam:GetInstanceProfile"):
        assert all(
            re.search(r":iam::\$\{data\.aws_caller_identity\.[^}]+\}:(role|user|instance-profile)/\*$", r)
            for r in granted[action]
        ), granted[action]
    assert tf["output"]["aws_auth_role_arn"]["value"] == ref("aws_iam_role", role_id, "arn")


def test_external_aws_auth_refuses_a_whole_account_as_principal() -> None:
    stack = TerraformStack(App(outdir="/tmp/unused-vault-synth"), "s")
    with pytest.raises(ValueError, match="vault_server_principal_arns"):
        ExternalVaultAwsAuth(
            stack,
            "x",
            ExternalVaultAwsAuthProps(name="r", vault_server_principal_arns=["arn:aws:iam::444455556666:root"]),
        )


# --- policy scan ---------------------------------------------------------------------------------


def test_checkov_finds_no_failed_checks(synth: tuple[dict[str, Any], Path]) -> None:
    _, stack_dir = synth
    failed, passed = run_checkov(stack_dir)
    assert failed == []
    assert passed > 50, "checkov scanned (almost) nothing"
