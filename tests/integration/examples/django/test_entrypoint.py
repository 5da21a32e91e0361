"""The image's entrypoint (examples/django/docker-entrypoint.sh) hands `platformctl secrets exec` the
task's own login path and the application's shared secrets, and nothing more for the migration."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.contracts import names as c
from app.contracts.workspace import PROJECT_ROOT

pytestmark = pytest.mark.integration
ENTRYPOINT = PROJECT_ROOT / "examples" / "django" / "docker-entrypoint.sh"


@pytest.fixture()
def recording_platformctl(tmp_path: Path) -> Path:
    """A `platformctl` first on PATH that prints the arguments it was exec'd with (the one stand-in:
    the real one would log in to Vault)."""
    stub = tmp_path / "bin" / "platformctl"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    stub.chmod(0o755)
    return stub.parent


def _argv(bin_dir: Path, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (c.ENV_VAULT_READ_PATHS, "APP_VAULT_PATHS")}
    env = {**clean, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = subprocess.run(
        [str(ENTRYPOINT), "gunicorn", "config.wsgi"], env=env, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def test_web_and_worker_read_their_login_and_the_shared_secrets(recording_platformctl: Path) -> None:
    argv = _argv(recording_platformctl, **{c.ENV_VAULT_READ_PATHS: "web/database", "APP_VAULT_PATHS": "shared/django"})
    assert argv == ["secrets", "exec", "--path", "web/database", "--path", "shared/django", "--",
                    "gunicorn", "config.wsgi"]  # fmt: skip


def test_the_migration_task_reads_only_its_own_login(recording_platformctl: Path) -> None:
    argv = _argv(recording_platformctl, **{c.ENV_VAULT_READ_PATHS: c.migration_kv_path("web")})
    assert argv == ["secrets", "exec", "--path", "migration/web/database", "--", "gunicorn", "config.wsgi"]
