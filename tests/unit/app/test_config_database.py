"""Bad network/database input is rejected before Terraform runs, naming the field."""

from __future__ import annotations

import copy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, ConfigError, parse_environment

REPO = Path(__file__).resolve().parents[3]


def base(name: str) -> dict[str, Any]:
    return tomllib.loads((DEFAULT_CONFIG_DIR / f"{name}.toml").read_text())


def problems(data: dict[str, Any], name: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_environment(data, f"{name}.toml", expected_name=name)
    return {p.field: p.message for p in info.value.problems}


def with_changes(name: str, section: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base(name))
    data.setdefault(section, {}).update(changes)
    return data


def test_shipped_environments_are_valid() -> None:
    for name in ("prod", "dev", "staging", "local"):
        env = parse_environment(base(name), f"{name}.toml", expected_name=name)
        assert env.network.availability_zones in ([], env.network.availability_zones[: env.network.az_count])
        assert len(env.network.availability_zones) in (0, env.network.az_count)


@pytest.mark.parametrize("version", ["16.x", "sixteen", "16.4.1", "9.6", ""])
def test_bad_engine_version_format(version: str) -> None:
    found = problems(with_changes("dev", "database", engine_version=version), "dev")
    assert "database.engine_version" in found
    assert "16.4" in found["database.engine_version"]  # tells what a valid value looks like


def test_unsupported_major_version() -> None:
    found = problems(with_changes("dev", "database", engine_version="12.9"), "dev")
    assert "PostgreSQL major" in found["database.engine_version"]


def test_storage_below_minimum() -> None:
    found = problems(with_changes("dev", "database", allocated_storage=10, max_allocated_storage=50), "dev")
    assert found["database.allocated_storage"] == "minimum is 20 GiB, got 10"


def test_storage_ceiling_below_allocated() -> None:
    found = problems(with_changes("dev", "database", allocated_storage=100, max_allocated_storage=50), "dev")
    assert "database.max_allocated_storage" in found


def test_prod_multi_az_off_without_override_is_rejected() -> None:
    found = problems(with_changes("prod", "database", multi_az=False), "prod")
    assert "Multi-AZ must stay on in production" in found["database.multi_az"]
    assert 'unsafe_overrides."database.multi_az"' in found["database.multi_az"]


def test_prod_multi_az_off_with_written_override_is_accepted() -> None:
    data = with_changes("prod", "database", multi_az=False)
    data["unsafe_overrides"] = {"database.multi_az": "single-AZ during the 2025 migration window"}
    env = parse_environment(data, "prod.toml", expected_name="prod")
    assert env.database.multi_az is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("deletion_protection", False, "deletion protection must stay on"),
        ("backup_retention_days", 3, "at least 7 days"),
    ],
)
def test_prod_other_database_safety_settings(field: str, value: Any, message: str) -> None:
    found = problems(with_changes("prod", "database", **{field: value}), "prod")
    assert message in found[f"database.{field}"]


def test_non_production_may_turn_multi_az_off() -> None:
    env = parse_environment(with_changes("staging", "database", multi_az=False), "staging.toml", "staging")
    assert env.database.multi_az is False


def existing_network(subnet_azs: dict[str, str]) -> dict[str, Any]:
    return {
        "mode": "existing",
        "existing": {
            "vpc_id": "vpc-0123456789abcdef0",
            "public_subnet_ids": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
            "private_subnet_ids": ["subnet-0000000000000000c", "subnet-0000000000000000d"],
            "isolated_subnet_ids": ["subnet-0000000000000000e", "subnet-0000000000000000f"],
            "subnet_azs": subnet_azs,
        },
    }


def test_byo_vpc_with_isolated_subnets_in_one_az_is_rejected() -> None:
    azs = {f"subnet-0000000000000000{c}": f"eu-west-1{'a' if c in 'ace' else 'b'}" for c in "abcdef"}
    azs["subnet-0000000000000000f"] = "eu-west-1a"  # both isolated subnets now in eu-west-1a
    data = copy.deepcopy(base("dev"))
    data["network"] = existing_network(azs)
    found = problems(data, "dev")
    assert set(found) == {"network.existing.isolated_subnet_ids"}
    assert "one AZ (eu-west-1a)" in found["network.existing.isolated_subnet_ids"]


def test_byo_vpc_spread_over_two_azs_is_accepted() -> None:
    azs = {f"subnet-0000000000000000{c}": f"eu-west-1{'a' if c in 'ace' else 'b'}" for c in "abcdef"}
    data = copy.deepcopy(base("dev"))
    data["network"] = existing_network(azs)
    env = parse_environment(data, "dev.toml", "dev")
    assert env.network.existing is not None
    assert env.network.existing.isolated_subnet_ids == [
        "subnet-0000000000000000e",
        "subnet-0000000000000000f",
    ]


@pytest.mark.parametrize(
    ("azs", "field", "message"),
    [
        (["eu-west-1a"], "network.availability_zones", "needs one AZ per subnet (2)"),
        (["eu-west-1a", "us-east-1b"], "network.availability_zones[1]", "not an AZ of eu-west-1"),
        (["eu-west-1a", "eu-west-1a"], "network.availability_zones", "lists an AZ twice"),
    ],
)
def test_bad_availability_zones(azs: list[str], field: str, message: str) -> None:
    found = problems(with_changes("dev", "network", availability_zones=azs), "dev")
    assert message in found[field]


def test_unpinned_availability_zones_are_read_from_the_account_not_guessed() -> None:
    """Zone names differ per account (and `<region>a` may not exist): never guessed from the region."""
    prod = parse_environment(base("prod"), "prod.toml", "prod")
    assert prod.network.availability_zones == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]  # pinned in the file
    local = parse_environment(base("local"), "local.toml", "local")
    assert local.network.availability_zones == [] and local.network.az_count == 2


def test_synth_entry_point_refuses_bad_database_config(tmp_path: Path) -> None:
    """`python -m app` (what cdktf runs) stops before synthesizing anything, naming file and field."""
    (tmp_path / "dev.toml").write_text(
        (DEFAULT_CONFIG_DIR / "dev.toml")
        .read_text()
        .replace("allocated_storage = 20", "allocated_storage = 5")
    )
    outdir = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "PLATFORM_CONFIG_DIR": str(tmp_path),
            "CDKTF_OUTDIR": str(outdir),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 64
    assert "database.allocated_storage: minimum is 20 GiB, got 5" in proc.stderr
    assert not outdir.exists()
