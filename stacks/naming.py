"""Names shared by the stacks and the operational tools, free of cdktf imports on purpose:
state tools must load fast and keep working when Node/jsii is broken — exactly when state
recovery is needed."""

from __future__ import annotations

from app.schema import EnvironmentConfig
from stacks.target import EMULATOR_ACCOUNT_ID  # cdktf-free as well

STATE_SUFFIX = ".tfstate"


def state_key(env_name: str, stack_name: str) -> str:
    """Object key of a stack's state in the environment's state bucket."""
    return f"{env_name}/{stack_name}{STATE_SUFFIX}"


def state_kms_alias(env: EnvironmentConfig) -> str:
    return f"alias/{env.state.bucket}"


def lock_table_name(env: EnvironmentConfig) -> str | None:
    return f"{env.state.bucket}-lock" if env.state.dynamodb_lock_table else None


# The CI stages that sign a plan bundle (docs/adr/0013): each has its own asymmetric KMS key.
CI_SIGNING_STAGES = ("plan", "policy")


def ci_signing_alias(env: EnvironmentConfig, stage: str) -> str:
    """Alias of the key only the CI STAGE ("plan" or "policy") may sign with."""
    return f"alias/{env.state.bucket}-ci-{stage}"


def ci_roles(env: EnvironmentConfig) -> dict[str, list[str]] | None:
    """IAM roles of the plan, policy and apply stages (None: CI bundles are not set up here).

    The `local` tier defaults to roles of the emulator's account; the emulator does not enforce key
    policies, so they only document the shape there (docs/adr/0013)."""
    c = env.ci
    if c.plan_role_arns or c.policy_role_arns or c.apply_role_arns:
        return {"plan": list(c.plan_role_arns), "policy": list(c.policy_role_arns), "apply": list(c.apply_role_arns)}
    if env.aws.emulator:
        return {s: [f"arn:aws:iam::{EMULATOR_ACCOUNT_ID}:role/platform-ci-{s}"] for s in ("plan", "policy", "apply")}
    return None
