"""Synthesized network and database stacks: what prod and dev differ in, and what never differs.

One synth (prod + dev in one App) for the whole module: a synth costs ~15 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

Doc = dict[str, Any]


BYO_SUBNETS = {
    "public_subnet_ids": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
    "private_subnet_ids": ["subnet-0000000000000000c", "subnet-0000000000000000d"],
    "isolated_subnet_ids": ["subnet-0000000000000000e", "subnet-0000000000000000f"],
}


def byo_environment() -> Any:
    """dev's settings, but in an existing VPC given by ids (environment "byo")."""
    import tomllib

    from app.config import DEFAULT_CONFIG_DIR, parse_environment

    data = tomllib.loads((DEFAULT_CONFIG_DIR / "dev.toml").read_text())
    data["name"] = "byo"
    ids = [i for ids in BYO_SUBNETS.values() for i in ids]
    data["network"] = {
        "mode": "existing",
        "existing": {
            "vpc_id": "vpc-0123456789abcdef0",
            **BYO_SUBNETS,
            "subnet_azs": {sid: f"eu-west-1{'ab'[n % 2]}" for n, sid in enumerate(ids)},
        },
    }
    return parse_environment(data, "byo.toml")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from app.config import load_environment
    from app.main import build_app

    outdir = tmp_path_factory.mktemp("synth")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PLATFORM_STATE_BOOTSTRAP", raising=False)
        app = build_app([load_environment("prod"), load_environment("dev"), byo_environment()], str(outdir))
        app.synth()
    yield outdir


def load(synth_dir: Path, stack: str) -> Doc:
    return json.loads((synth_dir / "stacks" / stack / "cdk.tf.json").read_text())


def resources(doc: Doc, rtype: str) -> list[Doc]:
    return list(doc.get("resource", {}).get(rtype, {}).values())


def one(doc: Doc, rtype: str) -> Doc:
    (found,) = resources(doc, rtype)
    return found


@pytest.fixture(scope="module")
def prod_net(synth_dir: Path) -> Doc:
    return load(synth_dir, "prod-network")


@pytest.fixture(scope="module")
def dev_net(synth_dir: Path) -> Doc:
    return load(synth_dir, "dev-network")


@pytest.fixture(scope="module")
def prod_db(synth_dir: Path) -> Doc:
    return load(synth_dir, "prod-database")


@pytest.fixture(scope="module")
def dev_db(synth_dir: Path) -> Doc:
    return load(synth_dir, "dev-database")


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


# --- network ---------------------------------------------------------------------------------------


def test_prod_spreads_over_three_azs_dev_over_two(prod_net: Doc, dev_net: Doc) -> None:
    # prod pins its AZs; dev reads them from the account (never guessed as `<region>a`), and its
    # subnets then ignore a later shift of that list instead of being replaced.
    from_account = [f"${{element(data.aws_availability_zones.network_azs_7B2E26B5.names, {i})}}" for i in range(2)]
    for subnet in resources(dev_net, "aws_subnet"):
        assert subnet["lifecycle"] == {"ignore_changes": ["availability_zone"]}
    for doc, azs in (
        (prod_net, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        (dev_net, from_account),
    ):
        subnets = resources(doc, "aws_subnet")
        assert len(subnets) == 3 * len(azs)
        for tier in ("public", "private", "isolated"):
            tier_azs = sorted(s["availability_zone"] for s in subnets if s["tags"]["tier"] == tier)
            assert tier_azs == azs


def test_vpc_has_dns_and_no_public_ip_on_launch(prod_net: Doc) -> None:
    vpc = one(prod_net, "aws_vpc")
    assert vpc["enable_dns_hostnames"] is True and vpc["enable_dns_support"] is True
    assert vpc["cidr_block"] == "10.30.0.0/16"
    assert all(s["map_public_ip_on_launch"] is False for s in resources(prod_net, "aws_subnet"))


def test_nat_per_az_in_prod_single_in_dev(prod_net: Doc, dev_net: Doc) -> None:
    assert len(resources(prod_net, "aws_nat_gateway")) == 3
    assert len(resources(dev_net, "aws_nat_gateway")) == 1
    # every private route table still gets a default route, in dev through the single NAT
    for doc, n in ((prod_net, 3), (dev_net, 2)):
        nat_routes = [r for r in resources(doc, "aws_route") if "nat_gateway_id" in r]
        assert len(nat_routes) == n
        assert len({r["nat_gateway_id"] for r in nat_routes}) == (3 if doc is prod_net else 1)


def test_isolated_subnets_have_no_internet_route(prod_net: Doc) -> None:
    isolated_rt = [k for k, v in prod_net["resource"]["aws_route_table"].items() if "isolated" in k]
    assert len(isolated_rt) == 1
    assert not any(isolated_rt[0] in json.dumps(r) for r in resources(prod_net, "aws_route"))
    assert "route" not in prod_net["resource"]["aws_route_table"][isolated_rt[0]]


def test_default_security_group_has_no_rules(prod_net: Doc) -> None:
    sg = one(prod_net, "aws_default_security_group")
    assert "ingress" not in sg and "egress" not in sg


def test_flow_logs_only_in_prod_encrypted(prod_net: Doc, dev_net: Doc) -> None:
    assert "aws_flow_log" not in dev_net["resource"]
    flow = one(prod_net, "aws_flow_log")
    assert flow["traffic_type"] == "ALL"
    group = one(prod_net, "aws_cloudwatch_log_group")
    assert group["kms_key_id"].startswith("${aws_kms_key.")
    assert group["retention_in_days"] >= 365
    assert one(prod_net, "aws_kms_key")["enable_key_rotation"] is True
    policy = json.loads(one(prod_net, "aws_iam_role_policy")["policy"])
    for stmt in policy["Statement"]:
        assert "*" not in stmt["Resource"], "flow-log role is limited to its own log group"


def test_network_outputs_for_consumers(prod_net: Doc) -> None:
    assert {"vpc_id", "public_subnet_ids", "private_subnet_ids", "isolated_subnet_ids"} <= set(
        prod_net["output"]
    )


# --- database --------------------------------------------------------------------------------------


def test_prod_database_is_multi_az_protected_and_monitored(prod_db: Doc) -> None:
    db = one(prod_db, "aws_db_instance")
    assert db["multi_az"] is True
    assert db["deletion_protection"] is True
    assert db["skip_final_snapshot"] is False and db["final_snapshot_identifier"] == "prod-postgres-final"
    assert db["backup_retention_period"] >= 7
    assert db["performance_insights_enabled"] is True
    assert db["performance_insights_kms_key_id"] == db["kms_key_id"]
    assert db["monitoring_interval"] == 60 and db["monitoring_role_arn"].startswith("${aws_iam_role.")
    assert db["apply_immediately"] is False


def test_dev_database_is_cheap_and_disposable(dev_db: Doc) -> None:
    db = one(dev_db, "aws_db_instance")
    assert db["multi_az"] is False
    assert db["deletion_protection"] is False
    assert db["skip_final_snapshot"] is True and "final_snapshot_identifier" not in db
    assert db["backup_retention_period"] == 1
    assert db["performance_insights_enabled"] is False
    assert db["monitoring_interval"] == 0 and "monitoring_role_arn" not in db
    assert "aws_iam_role" not in dev_db["resource"]


@pytest.mark.parametrize("stack", ["prod-database", "dev-database"])
def test_database_security_baseline(synth_dir: Path, stack: str) -> None:
    doc = load(synth_dir, stack)
    db = one(doc, "aws_db_instance")
    assert db["engine"] == "postgres"
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    key_ref = "${" + "aws_kms_key." + next(iter(doc["resource"]["aws_kms_key"])) + ".arn}"
    assert db["kms_key_id"] == key_ref
    assert db["manage_master_user_password"] is True
    assert db["master_user_secret_kms_key_id"] == key_ref
    assert db["iam_database_authentication_enabled"] is True
    assert db["auto_minor_version_upgrade"] is True
    assert db["copy_tags_to_snapshot"] is True
    assert db["enabled_cloudwatch_logs_exports"] == ["postgresql", "upgrade"]
    assert one(doc, "aws_kms_key")["enable_key_rotation"] is True
    assert "policy" in one(doc, "aws_kms_key")
    assert not any("ignore_changes" in json.dumps(r) for r in resources(doc, "aws_db_parameter_group"))


@pytest.mark.parametrize("stack", ["prod-database", "dev-database"])
def test_no_password_attribute_anywhere(synth_dir: Path, stack: str) -> None:
    doc = load(synth_dir, stack)
    keys = {key for key, _ in walk(doc)}
    assert "password" not in keys and "master_password" not in keys
    assert not any(isinstance(v, str) and "random_password" in v for _, v in walk(doc))


def test_parameter_group_forces_tls_and_logs(prod_db: Doc) -> None:
    pg = one(prod_db, "aws_db_parameter_group")
    assert pg["family"] == "postgres16"
    params = {p["name"]: p["value"] for p in pg["parameter"]}
    assert params["rds.force_ssl"] == "1"
    assert params["log_min_duration_statement"] == "1000"
    assert params["log_connections"] == "1"
    db = one(prod_db, "aws_db_instance")
    assert db["parameter_group_name"].startswith("${aws_db_parameter_group.")


def test_db_subnet_group_uses_isolated_subnets_by_cross_stack_reference(prod_db: Doc, prod_net: Doc) -> None:
    group = one(prod_db, "aws_db_subnet_group")
    assert len(group["subnet_ids"]) == 3
    for ref in group["subnet_ids"]:
        assert ref.startswith(
            "${data.terraform_remote_state.cross-stack-reference-input-prod-network.outputs."
        )
        output = ref.split(".outputs.")[1].rstrip("}")
        assert "isolated" in output and output in prod_net["output"]
    remote = prod_db["data"]["terraform_remote_state"]["cross-stack-reference-input-prod-network"]
    assert remote["config"]["key"] == "prod/prod-network.tfstate"


def test_db_ingress_only_from_client_security_groups(prod_db: Doc) -> None:
    rules = resources(prod_db, "aws_vpc_security_group_ingress_rule")
    assert len(rules) == 3  # the services app and worker, and the migration
    client_refs = {
        "${aws_security_group." + k + ".id}"
        for k in prod_db["resource"]["aws_security_group"]
        if "client" in k
    }
    assert {r["referenced_security_group_id"] for r in rules} == client_refs
    for rule in rules:
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule
        assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == (5432, 5432, "tcp")
    for sg in resources(prod_db, "aws_security_group"):
        assert "ingress" not in sg and "egress" not in sg
    assert "aws_security_group_rule" not in prod_db["resource"]
    assert "aws_vpc_security_group_egress_rule" in prod_db["resource"]
    db_sg_targets = {r["security_group_id"] for r in resources(prod_db, "aws_vpc_security_group_egress_rule")}
    assert db_sg_targets == client_refs, "egress rules belong to the clients; the DB SG has none"


def test_database_outputs_for_consumers(prod_db: Doc) -> None:
    outputs = prod_db["output"]
    expected = {
        "endpoint",
        "port",
        "database_name",
        "master_secret_arn",
        "db_security_group_id",
        "client_security_group_ids",
        "migration_security_group_id",
        "subnet_ids",
        "vpc_id",
    }
    assert expected <= set(outputs)
    assert outputs["master_secret_arn"]["value"].endswith(".master_user_secret[0].secret_arn}")


def test_stacks_are_ordered_state_network_database(synth_dir: Path) -> None:
    manifest = json.loads((synth_dir / "manifest.json").read_text())
    stacks = manifest["stacks"]
    assert "prod-state" in stacks["prod-network"]["dependencies"]
    assert "prod-network" in stacks["prod-database"]["dependencies"]


def test_existing_vpc_mode_creates_no_network_and_passes_ids_through(synth_dir: Path) -> None:
    net = load(synth_dir, "byo-network")
    assert "resource" not in net or not net["resource"], "an existing VPC is adopted, not created"
    assert net["data"]["aws_vpc"]
    (vpc_lookup,) = net["data"]["aws_vpc"].values()
    assert vpc_lookup["id"] == "vpc-0123456789abcdef0"
    assert net["output"]["isolated_subnet_ids"]["value"] == BYO_SUBNETS["isolated_subnet_ids"]
    db = load(synth_dir, "byo-database")
    assert one(db, "aws_db_subnet_group")["subnet_ids"] == BYO_SUBNETS["isolated_subnet_ids"]
    for sg in resources(db, "aws_security_group"):
        assert sg["vpc_id"].startswith(
            "${data.terraform_remote_state.cross-stack-reference-input-byo-network"
        )
    manifest = json.loads((synth_dir / "manifest.json").read_text())
    assert "byo-network" in manifest["stacks"]["byo-database"]["dependencies"]
