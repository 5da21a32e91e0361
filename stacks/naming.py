"""Names shared by the stacks and the operational tools, free of cdktf imports on purpose:
state tools must load fast and keep working when Node/jsii is broken — exactly when state
recovery is needed."""

from __future__ import annotations

from app.schema import EnvironmentConfig

STATE_SUFFIX = ".tfstate"


def state_key(env_name: str, stack_name: str) -> str:
    """Object key of a stack's state in the environment's state bucket."""
    return f"{env_name}/{stack_name}{STATE_SUFFIX}"


def state_kms_alias(env: EnvironmentConfig) -> str:
    return f"alias/{env.state.bucket}"


def lock_table_name(env: EnvironmentConfig) -> str | None:
    return f"{env.state.bucket}-lock" if env.state.dynamodb_lock_table else None
