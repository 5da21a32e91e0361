"""The image's entrypoint (examples/django/docker-entrypoint.sh) hands `platformctl secrets exec` the
command and nothing else: which paths to read comes from the task definition's VAULT_READ_PATHS
(the login plus the service's concrete read_paths), which reaches `secrets exec` unchanged."""

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
    """A `platformctl` first on PATH that prints the arguments it was exec'd with and the paths it
    would read (the one stand-in: the real one would log in to Vault)."""
    stub = tmp_path / "bin" / "platformctl"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n'
                    'printf "paths=%s\\n" "$VAULT_READ_PATHS"\n')
    stub.chmod(0o755)
    return stub.parent


def _argv(bin_dir: Path, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != c.ENV_VAULT_READ_PATHS}
    env = {**clean, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = subprocess.run(
        [str(ENTRYPOINT), "gunicorn", "config.wsgi"], env=env, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def test_web_and_worker_read_their_login_and_the_shared_secret(recording_platformctl: Path) -> None:
    paths = ",".join(c.task_read_paths("web", ["web/*", "shared/django"]))
    argv = _argv(recording_platformctl, **{c.ENV_VAULT_READ_PATHS: paths})
    assert argv == ["secrets", "exec", "--", "gunicorn", "config.wsgi", "paths=web/database,shared/django"]


def test_the_migration_task_reads_only_its_own_login(recording_platformctl: Path) -> None:
    argv = _argv(recording_platformctl, **{c.ENV_VAULT_READ_PATHS: c.migration_kv_path("web")})
    assert argv == ["secrets", "exec", "--", "gunicorn", "config.wsgi", "paths=migration/web/database"]
