"""What every stage needs about where it runs: environment, AWS target, commit, KMS key."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.config import ConfigError, load_environment
from app.contracts.workspace import PROJECT_ROOT
from app.schema import EnvironmentConfig
from scripts.ci.bundle import Keys
from scripts.ci.exitcodes import ERROR, USAGE, CiError

COMMIT_ENVS = ("GITHUB_SHA", "CI_COMMIT_SHA")


@dataclass(frozen=True)
class StageContext:
    env: EnvironmentConfig

    @classmethod
    def load(cls, env_name: str, use_emulator: Callable[[EnvironmentConfig], None]) -> StageContext:
        """`use_emulator`: called for an environment on the AWS emulator; the CLI passes the local
        target's (this module does not import the local target)."""
        try:
            env = load_environment(env_name)
        except ConfigError as exc:
            raise CiError(USAGE, f"configuration error (nothing was changed):\n{exc}") from exc
        if env.aws.emulator:
            use_emulator(env)
        return cls(env)

    @property
    def kms_key_id(self) -> str:
        """The environment's state key (created by the state stack) seals its plan bundles."""
        return self.env.state_kms_alias

    @property
    def keys(self) -> Keys:
        """The state key seals; the plan and policy keys sign (docs/adr/0013). Refused when the
        environment has no CI roles, since then the state stack made no signing keys."""
        if self.env.ci_roles() is None:
            raise CiError(ERROR, f"{self.env.source or self.env.name}: no [ci] roles (ci.plan_role_arns, "
                          "ci.policy_role_arns, ci.apply_role_arns): without them the state stack creates no "
                          "signing keys and no stage can sign a bundle; add them and apply the state stack")
        return Keys(self.kms_key_id, self.env.ci_signing_alias("plan"), self.env.ci_signing_alias("policy"))

    def kms(self) -> Any:
        from scripts.awsclients import client

        return client("kms", self.env)


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, check=False)


def git_dirty_sha256() -> str | None:
    """sha256 over the uncommitted changes (tracked diff against HEAD plus untracked, not ignored
    files); None for a clean tree, or where there is no git checkout to ask."""
    diff = _git("diff", "HEAD", "--binary", "--no-ext-diff", "--no-color")
    untracked = _git("ls-files", "--others", "--exclude-standard", "-z")
    if diff.returncode != 0 or untracked.returncode != 0:
        return None
    names = sorted(n for n in untracked.stdout.decode(errors="surrogateescape").split("\0") if n)
    if not diff.stdout and not names:
        return None
    digest = hashlib.sha256(diff.stdout)
    for name in names:
        path = PROJECT_ROOT / name
        digest.update(b"\0untracked\0" + name.encode(errors="surrogateescape") + b"\0")
        if path.is_file() and not path.is_symlink():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


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
