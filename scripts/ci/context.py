"""What every stage needs about where it runs: environment, AWS target, commit, KMS key."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any

from app.config import ConfigError, load_environment
from app.schema import EnvironmentConfig
from scripts.ci.exitcodes import ERROR, CiError
from scripts.workspace import PROJECT_ROOT
from stacks.naming import state_kms_alias
from stacks.target import LOCAL_ENDPOINT_ENV

COMMIT_ENVS = ("GITHUB_SHA", "CI_COMMIT_SHA")


@dataclass(frozen=True)
class StageContext:
    env: EnvironmentConfig

    @classmethod
    def load(cls, env_name: str) -> StageContext:
        try:
            env = load_environment(env_name)
        except ConfigError as exc:
            raise CiError(ERROR, f"configuration error (nothing was changed):\n{exc}") from exc
        if env.aws.emulator:
            _use_local_target(env)
        return cls(env)

    @property
    def kms_key_id(self) -> str:
        """The environment's state key (created by the state stack) seals its plan bundles."""
        return state_kms_alias(self.env)

    def kms(self) -> Any:
        from scripts.awsclients import client

        return client("kms", self.env)


def _use_local_target(env: EnvironmentConfig) -> None:
    from scripts.localtarget import target

    state = target.load()
    if state.aws_running():
        # The emulator endpoint, and where the local migration gate finds its login in the vault:
        # also when `eval "$(platformctl local env)"` already exported the endpoint, which says
        # nothing about the gate's variables.
        target.apply_to_environ(state, env)
    elif LOCAL_ENDPOINT_ENV not in os.environ:
        raise CiError(ERROR, "the local target is not running; start it with `platformctl local up` "
                             f"(or export {LOCAL_ENDPOINT_ENV} for an emulator of your own)")


def git_commit() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()
    for name in COMMIT_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    return "unknown"
