"""The synthesized `<env>-vault` stacks: prod/dev self-hosted (wired to the network and database
stacks), an external Vault (only the AWS-auth role), `local` (outputs only); checkov on prod-vault.

prod/dev/local come from the session's synth of every environment (`synthesized`); the external
case is one extra in-process synth of that stack alone.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import ConfigError
from tests.helpers.synth import Synth

Doc = dict[str, Any]
PROD = "prod-vault"
EXTERNAL_SERVER = "arn:aws:iam::444455556666:role/corp-vault-server"
SECRET_WORDS = ("password", "root_token", "client_token", "unseal_keys", "recovery_key", "secret_key", "private key")


def by_path(doc: Doc, rtype: str, suffix: str) -> tuple[str, Doc]:
    found = [
        (k, v)
        for k, v in doc.get("resource", {}).get(rtype, {}).items()
        if v["//"]["metadata"]["path"].endswith(suffix)
    ]
    assert len(found) == 1, f"{rtype} */{suffix}: {[k for k, _ in found]}"
    return found[0]


def ref(rtype: str, rid: str, attr: str) -> str:
    return "${" + f"{rtype}.{rid}.{attr}" + "}"


def statements(policy: str) -> list[Doc]:
    return list(json.loads(policy)["Statement"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_policy(doc: Doc, role_id: str) -> list[Doc]:
    (policy,) = [
        p for p in doc["resource"]["aws_iam_role_policy"].values() if p["role"] == ref("aws_iam_role", role_id, "id")
    ]
    return statements(policy["policy"])


def remote_output(stack: str, attr_fragment: str) -> str:
    """Start of a cross-stack reference to an output of `stack` (remote state in the S3 backend)."""
    return "${data.terraform_remote_state.cross-stack-reference-input-" + stack + ".outputs.cross-stack-output-"


@pytest.fixture(scope="module")
def prod(synthesized: Synth) -> Doc:
    return synthesized.stack(PROD)


# --- wiring -------------------------------------------------------------------------------------


def test_every_environment_gets_a_vault_stack_after_database(synthesized: Synth) -> None:
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    for env in ("dev", "local", "prod", "staging"):
        stack = manifest["stacks"][f"{env}-vault"]
        assert f"{env}-database" in stack["dependencies"], stack["dependencies"]


def test_prod_vault_runs_in_the_network_stacks_private_subnets_for_the_database_client_sgs(prod: Doc) -> None:
    _, lb = by_path(prod, "aws_lb", "server/lb")
    assert lb["internal"] is True and lb["load_balancer_type"] == "network"
    assert len(lb["subnets"]) == 3  # prod: one private subnet per AZ
    for subnet in lb["subnets"]:
        assert subnet.startswith(remote_output("prod-network", "")) and "network_private-" in subnet
    _, service = by_path(prod, "aws_ecs_service", "server/service/service")
    assert service["network_configuration"]["subnets"] == lb["subnets"]
    assert service["network_configuration"]["assign_public_ip"] is False
    lb_sg, _ = by_path(prod, "aws_security_group", "server/lb-sg")
    client_rules = [
        r
        for r in prod["resource"]["aws_vpc_security_group_ingress_rule"].values()
        if r["security_group_id"] == ref("aws_security_group", lb_sg, "id")
    ]
    sources = sorted(r["referenced_security_group_id"] for r in client_rules)
    assert len(sources) == 3  # every service's database client group (app, worker) and the migration's
    assert all(s.startswith(remote_output("prod-database", "")) for s in sources)
    assert "app-client-sg" in sources[0] and "migration-client-sg" in sources[1] and "worker-client-sg" in sources[2]
    assert all((r["from_port"], r["to_port"]) == (8200, 8200) and "cidr_ipv4" not in r for r in client_rules)
    # ... and those groups may open connections to the load balancer only (issue 14, item 9).
    egress = sorted(
        (r["security_group_id"], r["referenced_security_group_id"], r["from_port"], r["to_port"])
        for r in prod["resource"]["aws_vpc_security_group_egress_rule"].values()
        if r["security_group_id"] in sources
    )
    assert egress == [(s, ref("aws_security_group", lb_sg, "id"), 8200, 8200) for s in sources]


# --- KMS, IAM --------------------------------------------------------------------------------------


def test_prod_unseal_key_is_used_only_by_the_vault_task_role(prod: Doc) -> None:
    key_id, key = by_path(prod, "aws_kms_key", "server/unseal-key")
    role_id, _ = by_path(prod, "aws_iam_role", "server/task-role")
    assert key["enable_key_rotation"] is True and key["deletion_window_in_days"] == 30
    use = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:*"}
    users = [st["Principal"] for st in statements(key["policy"]) if set(as_list(st["Action"])) & use]
    assert users == [{"AWS": ref("aws_iam_role", role_id, "arn")}]
    for st in statements(key["policy"]):
        assert st["Effect"] == "Allow" and st["Principal"] not in ("*", {"AWS": "*"})
    assert prod["output"]["kms_key_arn"]["value"] == ref("aws_kms_key", key_id, "arn")


def test_prod_task_role_may_use_only_the_unseal_key_and_the_ha_table(prod: Doc) -> None:
    role_id, role = by_path(prod, "aws_iam_role", "server/task-role")
    key_id, _ = by_path(prod, "aws_kms_key", "server/unseal-key")
    table_id, table = by_path(prod, "aws_dynamodb_table", "server/ha-table")
    granted = {
        (a, r) for st in role_policy(prod, role_id) for a in as_list(st["Action"]) for r in as_list(st["Resource"])
    }
    assert {r for _, r in granted} == {ref("aws_kms_key", key_id, "arn"), ref("aws_dynamodb_table", table_id, "arn")}
    assert {a for a, _ in granted if a.startswith("kms:")} == {"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"}
    assert all(a.startswith(("kms:", "dynamodb:")) and "*" not in a for a, _ in granted)
    (trust,) = statements(role["assume_role_policy"])
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"].startswith("${data.aws_caller_identity.")
    assert table["deletion_protection_enabled"] is True and table["point_in_time_recovery"] == {"enabled": True}
    assert prod["output"]["task_role_arn"]["value"] == ref("aws_iam_role", role_id, "arn")
    assert prod["output"]["table_name"]["value"] == ref("aws_dynamodb_table", table_id, "name")


def test_prod_aws_auth_role_is_assumable_only_by_the_vault_task_role_and_reads_iam_only(prod: Doc) -> None:
    task_role, _ = by_path(prod, "aws_iam_role", "server/task-role")
    auth_id, auth = by_path(prod, "aws_iam_role", "aws-auth/role")
    assert auth["name"] == "prod-vault-aws-auth"
    (trust,) = statements(auth["assume_role_policy"])
    assert trust["Principal"] == {"AWS": [ref("aws_iam_role", task_role, "arn")]}
    actions = {a for st in role_policy(prod, auth_id) for a in as_list(st["Action"])}
    assert actions == {"iam:GetRole", "iam:GetUser", "sts:GetCallerIdentity"}  # ECS tasks: no EC2 login
    assert prod["output"]["aws_auth_role_arn"]["value"] == ref("aws_iam_role", auth_id, "arn")


# --- TLS ---------------------------------------------------------------------------------------------


def test_prod_tls_end_to_end_with_the_configured_certificate_and_secret_arns(prod: Doc) -> None:
    from app.config import load_environment

    cfg = load_environment("prod").vault
    lb_id, lb = by_path(prod, "aws_lb", "server/lb")
    _, listener = by_path(prod, "aws_lb_listener", "server/listener")
    assert (listener["port"], listener["protocol"]) == (8200, "TLS")
    assert listener["certificate_arn"] == cfg.lb_certificate_arn
    assert listener["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    _, tg = by_path(prod, "aws_lb_target_group", "server/tg")
    assert (tg["protocol"], tg["health_check"]["protocol"]) == ("TLS", "HTTPS")
    assert lb["access_logs"] == {"bucket": cfg.lb_access_logs_bucket, "enabled": True, "prefix": "nlb/prod-vault"}
    assert lb["enable_deletion_protection"] is True
    _, td = by_path(prod, "aws_ecs_task_definition", "server/task-definition/task-definition")
    (container,) = json.loads(td["container_definitions"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    tcp = json.loads(env["VAULT_LOCAL_CONFIG"])["listener"]["tcp"]
    assert tcp["tls_cert_file"] and tcp["tls_key_file"] and tcp["tls_min_version"] == "tls12"
    assert "tls_disable" not in tcp
    assert container["secrets"] == [
        {"name": "VAULT_TLS_CERT", "valueFrom": cfg.tls_cert_secret_arn},
        {"name": "VAULT_TLS_KEY", "valueFrom": cfg.tls_key_secret_arn},
    ]
    assert prod["output"]["lb_certificate_arn"]["value"] == cfg.lb_certificate_arn
    # Clients and Vault itself use the private name the certificate covers, not the NLB's own name.
    assert prod["output"]["address"]["value"] == "https://vault.prod.internal:8200"
    assert json.loads(env["VAULT_LOCAL_CONFIG"])["api_addr"] == "https://vault.prod.internal:8200"
    _, zone = by_path(prod, "aws_route53_zone", "server/dns-zone")
    _, record = by_path(prod, "aws_route53_record", "server/dns-record")
    assert zone["name"] == "prod.internal" and zone["vpc"][0]["vpc_id"].startswith(remote_output("prod-network", ""))
    assert record["name"] == "vault.prod.internal"
    assert record["alias"]["name"] == ref("aws_lb", lb_id, "dns_name")


def test_services_get_the_private_vault_address(synthesized: Synth) -> None:
    for env in ("prod", "dev"):
        doc = synthesized.stack(f"{env}-service")
        for rid, td in doc["resource"]["aws_ecs_task_definition"].items():
            (container,) = json.loads(td["container_definitions"])
            variables = {e["name"]: e["value"] for e in container["environment"]}
            assert variables["VAULT_ADDR"] == f"https://vault.{env}.internal:8200", rid


def test_upgrading_keeps_the_running_vault_service_and_its_security_group(prod: Doc) -> None:
    """The single-file construct's resources are `moved` into the composed constructs' paths, so an
    existing environment updates them in place instead of replacing them."""
    moved = {m["from"]: m["to"] for m in prod["moved"]}
    for old, new_path in {
        "aws_ecs_service.server_service_2F405F39": "server/service/service",
        "aws_security_group.server_task-sg_1790826B": "server/service/task-sg",
        "aws_ecs_cluster.server_cluster_B560D6DA": "server/cluster/cluster",
        "aws_cloudwatch_log_group.server_log-group_E34D3563": "server/task-definition/logs",
        "aws_iam_role.server_execution-role_13C36B9A": "server/task-definition/execution-role",
    }.items():
        rtype = old.split(".")[0]
        rid, _ = by_path(prod, rtype, new_path)
        assert moved[old] == f"{rtype}.{rid}"
    # Everything else kept its address: no resource of the old layout is left without a home.
    kept = ("unseal-key", "data-key", "ha-table", "task-role", "lb", "lb-sg", "listener", "tg")
    for name in kept:
        assert any(rid.startswith(f"server_{name}_") for r in prod["resource"].values() for rid in r), name


def test_real_environments_keep_full_drift_detection(synthesized: Synth) -> None:
    for env in ("dev", "prod", "staging"):
        for rtype, resources in synthesized.stack(f"{env}-vault")["resource"].items():
            for rid, body in resources.items():
                assert "ignore_changes" not in body.get("lifecycle", {}), f"{env}: {rtype}.{rid}"


def test_no_secret_material_in_any_vault_stack(synthesized: Synth) -> None:
    for env in ("dev", "local", "prod", "staging"):
        doc = synthesized.stack(f"{env}-vault")
        assert "-----BEGIN" not in json.dumps(doc)
        # Resources and outputs (the emulator's provider block carries its fixed "test" key pair).
        text = json.dumps({"resource": doc.get("resource"), "output": doc.get("output")}).lower()
        for word in SECRET_WORDS:
            assert word not in text, (env, word)


# --- per-environment differences ------------------------------------------------------------------


def test_dev_runs_one_task_without_deletion_protection(synthesized: Synth) -> None:
    dev = synthesized.stack("dev-vault")
    _, service = by_path(dev, "aws_ecs_service", "server/service/service")
    _, table = by_path(dev, "aws_dynamodb_table", "server/ha-table")
    _, lb = by_path(dev, "aws_lb", "server/lb")
    assert service["desired_count"] == 1
    assert service["deployment_minimum_healthy_percent"] == 100  # as every service (was 50 %)
    assert table["deletion_protection_enabled"] is False and lb["enable_deletion_protection"] is False
    assert "access_logs" not in lb
    assert by_path(synthesized.stack(PROD), "aws_ecs_service", "server/service/service")[1]["desired_count"] == 2


def test_local_vault_stack_only_points_at_the_local_vault(synthesized: Synth) -> None:
    local = synthesized.stack("local-vault")
    assert "resource" not in local
    assert {k: v["value"] for k, v in local["output"].items()} == {
        "mode": "external",
        "address": "http://127.0.0.1:8200",
    }


def test_local_vault_port_reaches_outputs_task_definitions_and_fallbacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18 item 5: with PLATFORM_LOCAL_VAULT_PORT, nothing of `local` still names :8200 (another
    vault may listen there): not the `local-vault` output, not a task's VAULT_ADDR, not the address
    `secrets rotate`/`vault bootstrap` fall back to (vault.address of the loaded environment)."""
    from app.config import load_environment
    from tests.helpers.synth import synth_all

    port = "18299"
    synth = synth_all(tmp_path / "out", {"PLATFORM_LOCAL_VAULT_PORT": port, "PLATFORM_ENVIRONMENTS": "local",
                                         "PLATFORM_HOME": str(tmp_path / "home")})
    expected = f"http://127.0.0.1:{port}"
    assert synth.stack("local-vault")["output"]["address"]["value"] == expected
    tds = synth.resources("local-service", "aws_ecs_task_definition").values()
    addrs = {e["value"] for td in tds for e in json.loads(td["container_definitions"])[0]["environment"]
             if e["name"] == "VAULT_ADDR"}
    assert addrs == {expected}
    for stack in ("local-service", "local-vault"):
        assert "127.0.0.1:8200" not in (synth.stack_dir(stack) / "cdk.tf.json").read_text()
    monkeypatch.setenv("PLATFORM_LOCAL_VAULT_PORT", port)
    assert load_environment("local").vault.address == expected
    monkeypatch.setenv("PLATFORM_LOCAL_VAULT_PORT", "80000")
    with pytest.raises(ConfigError, match=r"vault\.address: not set, and the local vault's port cannot be derived"):
        load_environment("local")


def test_external_mode_creates_only_the_aws_auth_role(tmp_path: Path) -> None:
    from app.config import DEFAULT_CONFIG_DIR, parse_environment
    from app.literals import for_synthesis
    from modules.cdk import App
    from stacks.network import NetworkStack
    from stacks.vault import VaultStack

    data = tomllib.loads((DEFAULT_CONFIG_DIR / "staging.toml").read_text())
    data["name"] = "ext"
    data["vault"] = {
        "mode": "external",
        "address": "https://vault.corp.example:8200",
        "server_principal_arns": [EXTERNAL_SERVER],
    }
    env = for_synthesis(parse_environment(data, "ext.toml"))
    app = App(outdir=str(tmp_path))
    network = NetworkStack(app, env)
    VaultStack(app, env, network, ["sg-0123456789abcdef0"])
    app.synth()
    doc = json.loads((tmp_path / "stacks" / "ext-vault" / "cdk.tf.json").read_text())
    assert sorted(doc["resource"]) == ["aws_iam_role", "aws_iam_role_policy"]
    role_id, role = by_path(doc, "aws_iam_role", "aws-auth/role")
    (trust,) = statements(role["assume_role_policy"])
    assert trust["Principal"] == {"AWS": [EXTERNAL_SERVER]}
    assert "terraform_remote_state" not in doc.get("data", {})  # needs nothing from other stacks
    outputs = {k: v["value"] for k, v in doc["output"].items()}
    assert outputs == {
        "mode": "external",
        "address": "https://vault.corp.example:8200",
        "aws_auth_role_arn": ref("aws_iam_role", role_id, "arn"),
    }


# --- policy scan ----------------------------------------------------------------------------------


def test_prod_vault_passes_checkov(synthesized: Synth) -> None:
    from tests.helpers.checkov import run_checkov

    failed, passed = run_checkov(synthesized.stack_dir(PROD))
    assert failed == [], failed
    assert passed >= 60, "checkov scanned (almost) nothing"
