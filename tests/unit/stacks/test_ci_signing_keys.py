"""The CI signing keys of the state stack: who may sign, who may verify, and config validation."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from app.config import load_environment
from app.main import build_app
from app.schema import CiConfig
from tests.conftest import Synth
from tests.unit.app.test_config import PROD, problems, write_env

ACCOUNT = "111111111111"  # prod.toml's account
ROLES = {s: [f"arn:aws:iam::{ACCOUNT}:role/ci-{s}"] for s in ("plan", "policy", "apply")}


def _keys(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = stack["resource"]["aws_kms_key"]
    return {name: k for name, k in keys.items() if k.get("key_usage") == "SIGN_VERIFY"}


def _statements(key: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}


@pytest.fixture(scope="module")
def prod_state_dir() -> Any:
    env = load_environment("prod").model_copy(update={"ci": CiConfig(
        plan_role_arns=ROLES["plan"], policy_role_arns=ROLES["policy"], apply_role_arns=ROLES["apply"])})
    with tempfile.TemporaryDirectory() as out:
        build_app([env], out).synth()
        yield Path(out) / "stacks" / "prod-state"


def test_each_signing_stage_has_its_own_key_only_its_role_may_sign_with(prod_state_dir: Path) -> None:
    stack = json.loads((prod_state_dir / "cdk.tf.json").read_text())
    keys = _keys(stack)
    assert len(keys) == 2
    by_stage = {("plan" if "plan" in name else "policy"): k for name, k in keys.items()}
    verifiers = {"plan": sorted(ROLES["policy"] + ROLES["apply"]), "policy": ROLES["apply"]}
    for stage, key in by_stage.items():
        assert key["customer_master_key_spec"] == "ECC_NIST_P256" and key["lifecycle"]["prevent_destroy"] is True
        st = _statements(key)
        assert st["SignCiBundles"]["Principal"]["AWS"] == ROLES[stage]
        assert st["VerifyCiBundles"]["Principal"]["AWS"] == verifiers[stage]
        assert "kms:Sign" not in st["VerifyCiBundles"]["Action"]
        # The account administers but may not use the key: no IAM policy can hand out kms:Sign.
        admin = st["AccountAdministersKey"]["Action"]
        assert isinstance(admin, list) and not {"kms:*", "kms:Sign", "kms:CreateGrant", "kms:Create*"} & set(admin)
    aliases = {a["name"] for a in stack["resource"]["aws_kms_alias"].values()}
    assert {"alias/acme-platform-prod-tfstate-ci-plan", "alias/acme-platform-prod-tfstate-ci-policy"} <= aliases


def test_the_state_stack_with_signing_keys_passes_checkov(prod_state_dir: Path) -> None:
    from tests.helpers.checkov import run_checkov

    failed, passed = run_checkov(prod_state_dir)
    assert failed == [], failed
    assert passed >= 15


def _signers(stack: dict[str, Any]) -> set[str]:
    return {p for k in _keys(stack).values() for p in _statements(k)["SignCiBundles"]["Principal"]["AWS"]}


def test_local_uses_the_emulator_account_and_the_shipped_files_their_own_roles(synthesized: Synth) -> None:
    assert _signers(synthesized.stack("local-state")) == {"arn:aws:iam::123456789012:role/platform-ci-plan",
                                                          "arn:aws:iam::123456789012:role/platform-ci-policy"}
    assert _signers(synthesized.stack("prod-state")) == {f"arn:aws:iam::{ACCOUNT}:role/platform-ci-plan",
                                                         f"arn:aws:iam::{ACCOUNT}:role/platform-ci-policy"}


def test_an_environment_without_roles_has_no_signing_keys(tmp_path: Path) -> None:
    env = load_environment("prod").model_copy(update={"ci": CiConfig()})
    build_app([env], str(tmp_path)).synth()
    assert _keys(json.loads((tmp_path / "stacks" / "prod-state" / "cdk.tf.json").read_text())) == {}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"plan_role_arns": ROLES["plan"], "policy_role_arns": [], "apply_role_arns": []},
         ["ci.policy_role_arns: required with the other", "ci.apply_role_arns: required with the other"]),
        ({**{f"{s}_role_arns": r for s, r in ROLES.items()}, "apply_role_arns": [f"arn:aws:iam::{ACCOUNT}:user/bob"]},
         ["ci.apply_role_arns[0]: not an IAM role ARN"]),
        ({**{f"{s}_role_arns": r for s, r in ROLES.items()}, "policy_role_arns": ["arn:aws:iam::999999999999:role/x"]},
         ["ci.policy_role_arns[0]: belongs to account 999999999999"]),
        ({**{f"{s}_role_arns": r for s, r in ROLES.items()}, "policy_role_arns": ROLES["plan"]},
         ["ci.policy_role_arns: 'arn:aws:iam::111111111111:role/ci-plan' is also a plan role"]),
    ],
)
def test_bad_ci_roles_are_refused_naming_file_and_field(tmp_path: Path, changes: dict[str, Any],
                                                        expected: list[str]) -> None:
    write_env(tmp_path, PROD, **{f"ci__{k}": v for k, v in changes.items()})
    lines = problems(tmp_path, "prod")
    assert len(lines) == len(expected), lines
    for line, want in zip(lines, expected, strict=True):
        assert line.startswith(f"{tmp_path}/prod.toml: ") and want in line, line


def test_ci_roles_are_accepted(tmp_path: Path) -> None:
    write_env(tmp_path, PROD, **{f"ci__{s}_role_arns": r for s, r in ROLES.items()})
    assert load_environment("prod", tmp_path).ci.plan_role_arns == ROLES["plan"]


def test_an_environment_without_ci_roles_cannot_sign_and_says_which_fields() -> None:
    from scripts.ci.context import StageContext
    from scripts.ci.exitcodes import CiError

    with pytest.raises(CiError, match=r"ci\.plan_role_arns, ci\.policy_role_arns, ci\.apply_role_arns") as err:
        _ = StageContext(load_environment("prod").model_copy(update={"ci": CiConfig()})).keys
    assert err.value.exit_code == 1
    local = StageContext(load_environment("local")).keys
    assert local.plan == "alias/platform-local-tfstate-ci-plan"
    assert local.policy == "alias/platform-local-tfstate-ci-policy"
