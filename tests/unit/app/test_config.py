"""Environment files: every rejection names the file and the field, and happens before Terraform."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, ConfigError, load_all, load_environment

PROD = tomllib.loads((DEFAULT_CONFIG_DIR / "prod.toml").read_text())
DEV = tomllib.loads((DEFAULT_CONFIG_DIR / "dev.toml").read_text())


def _dump(data: dict[str, Any], prefix: str = "") -> str:
    """Minimal TOML writer for test fixtures (tables, arrays of tables, scalars, lists)."""
    import json

    scalars, tables, arrays = [], [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            arrays.append((key, value))
        else:
            scalars.append(f"{json.dumps(key)} = {json.dumps(value)}")
    out = "\n".join(scalars) + "\n"
    for key, value in tables:
        out += f"\n[{prefix}{key}]\n" + _dump(value, f"{prefix}{key}.")
    for key, items in arrays:
        for item in items:
            out += f"\n[[{prefix}{key}]]\n" + _dump(item, f"{prefix}{key}.")
    return out


def write_env(tmp_path: Path, base: dict[str, Any], **changes: Any) -> Path:
    """Copy `base`, apply dotted-path changes (value None deletes), write <name>.toml."""
    import copy

    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    (tmp_path / f"{data['name']}.toml").write_text(_dump(data))
    return tmp_path


def problems(tmp_path: Path, name: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_environment(name, tmp_path)
    return str(exc.value).splitlines()


def test_shipped_environments_are_valid() -> None:
    names = [e.name for e in load_all()]
    assert names == ["dev", "local", "prod", "staging"]


def test_prod_defaults_are_the_safe_ones() -> None:
    prod = load_environment("prod")
    assert prod.database.deletion_protection and prod.database.multi_az
    assert prod.database.backup_retention_days >= 7
    assert prod.network.az_count == 3 and prod.network.flow_logs
    assert prod.state.noncurrent_version_expiration_days >= 90
    assert prod.load_balancer.deletion_protection
    assert all(s.verify_rollout for s in prod.services.values())


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    write_env(tmp_path, DEV)
    (msg,) = problems(tmp_path, "qa")
    assert "qa.toml" in msg and "unknown environment 'qa'" in msg and "known: dev" in msg


def test_malformed_cidr_names_file_and_field(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, network__cidr="10.10.0.0/33")
    lines = problems(tmp_path, "dev")
    assert any(line.startswith(f"{tmp_path}/dev.toml: network.cidr: malformed CIDR") for line in lines), lines


def test_overlapping_subnets_are_rejected(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        DEV,
        network__public_subnets=["10.10.0.0/20", "10.10.16.0/20"],
        network__private_subnets=["10.10.8.0/21", "10.10.32.0/20"],
        network__isolated_subnets=["10.10.64.0/20", "10.10.80.0/20"],
    )
    lines = problems(tmp_path, "dev")
    assert any("network.private_subnets[0]: 10.10.8.0/21 overlaps 10.10.0.0/20" in line for line in lines), lines


def test_subnet_outside_vpc_is_rejected(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        DEV,
        network__public_subnets=["10.99.0.0/20", "10.10.16.0/20"],
        network__private_subnets=["10.10.32.0/20", "10.10.48.0/20"],
        network__isolated_subnets=["10.10.64.0/20", "10.10.80.0/20"],
    )
    lines = problems(tmp_path, "dev")
    assert any("network.public_subnets[0]: 10.99.0.0/20 is outside the VPC CIDR" in line for line in lines), lines


def test_fargate_cpu_memory_pair_must_be_allowed(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, services__app__cpu=256, services__app__memory=4096)
    lines = problems(tmp_path, "dev")
    assert any("services.app.memory: Fargate does not allow 4096 MiB with cpu=256" in line for line in lines), lines


def test_unknown_fargate_cpu(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, services__app__cpu=300)
    assert any("services.app.cpu: Fargate CPU must be one of" in line for line in problems(tmp_path, "dev"))


def test_missing_required_field(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, state__bucket=None)
    lines = problems(tmp_path, "dev")
    assert lines == [f"{tmp_path}/dev.toml: state.bucket: required field is missing"]


def test_unknown_field_is_a_typo_not_ignored(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, database__multiaz=True)
    lines = problems(tmp_path, "dev")
    assert any("database.multiaz: unknown field" in line for line in lines), lines


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, services__app__desired_count="two")
    assert any("services.app.desired_count: must be an integer" in line for line in problems(tmp_path, "dev"))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, network__cidr="nope", services__app__cpu=256, services__app__memory=4096,
              aws__account_id="12")  # fmt: skip
    fields = {line.split(": ")[1] for line in problems(tmp_path, "dev")}
    assert {"network.cidr", "services.app.memory", "aws.account_id"} <= fields


@pytest.mark.parametrize(
    ("dotted", "value", "field"),
    [
        ("database__deletion_protection", False, "database.deletion_protection"),
        ("database__multi_az", False, "database.multi_az"),
        ("database__backup_retention_days", 1, "database.backup_retention_days"),
        ("services__worker__image", "public.ecr.aws/acme/app:latest", "services.worker.image"),
        ("services__app__verify_rollout", False, "services.app.verify_rollout"),
        ("migration__image", "public.ecr.aws/acme/app:latest", "migration.image"),
        ("load_balancer__deletion_protection", False, "load_balancer.deletion_protection"),
        ("load_balancer__access_logs_bucket", None, "load_balancer.access_logs_bucket"),
        ("load_balancer__waf_web_acl_arn", None, "load_balancer.waf_web_acl_arn"),
        ("network__flow_logs", False, "network.flow_logs"),
        ("state__noncurrent_version_expiration_days", 30, "state.noncurrent_version_expiration_days"),
    ],
)
def test_prod_weakening_needs_an_explicit_override(tmp_path: Path, dotted: str, value: Any, field: str) -> None:
    write_env(tmp_path, PROD, **{dotted: value})
    lines = problems(tmp_path, "prod")
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path}/prod.toml: {field}: "), lines
    assert f'unsafe_overrides."{field}"' in lines[0]

    write_env(tmp_path, PROD, **{dotted: value, "unsafe_overrides": {field: "restore drill, ticket OPS-42"}})
    assert load_environment("prod", tmp_path).unsafe_overrides == {field: "restore drill, ticket OPS-42"}


def test_override_needs_a_reason_and_a_known_field(tmp_path: Path) -> None:
    write_env(tmp_path, PROD, unsafe_overrides={"database.deletion_protection": " ", "database.size": "x"})
    lines = problems(tmp_path, "prod")
    assert any("unsafe_overrides.database.deletion_protection: needs a written reason" in line for line in lines)
    assert any("unsafe_overrides.database.size: not an overridable safety setting" in line for line in lines)


def test_only_the_local_tier_may_target_the_emulator(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, aws__emulator=True)
    assert any("aws.emulator: only the 'local' tier" in line for line in problems(tmp_path, "dev"))


def test_real_environments_must_name_their_account(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, aws__account_id=None)
    assert any("aws.account_id: required" in line for line in problems(tmp_path, "dev"))


def test_file_name_and_name_field_must_agree(tmp_path: Path) -> None:
    write_env(tmp_path, DEV, name="qa")
    (tmp_path / "qa.toml").rename(tmp_path / "dev.toml")
    assert any("name: must match the file name 'dev'" in line for line in problems(tmp_path, "dev"))


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "dev.toml").write_text("name = \n")
    (msg,) = problems(tmp_path, "dev")
    assert msg.startswith(f"{tmp_path}/dev.toml: <file>: not valid TOML")


def test_synth_refuses_invalid_configuration_before_terraform(tmp_path: Path) -> None:
    """`python -m app` (what cdktf runs) exits 64 (usage) with the problems and writes no stack."""
    import os
    import subprocess
    import sys

    write_env(tmp_path, DEV, network__cidr="10.0.0.0/8")
    out = tmp_path / "out"
    env = {**os.environ, "PLATFORM_CONFIG_DIR": str(tmp_path), "CDKTF_OUTDIR": str(out)}
    proc = subprocess.run([sys.executable, "-m", "app"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 64
    assert "dev.toml: network.cidr: VPC CIDR must be between /16 and /24" in proc.stderr
    assert not out.exists()
