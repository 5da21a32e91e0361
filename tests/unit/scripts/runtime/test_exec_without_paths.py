"""A workload that reads no secret (`database = false`, no concrete read_paths) gets an empty
VAULT_READ_PATHS from its task definition; its entrypoint `platformctl secrets exec -- CMD` must
start CMD without a Vault login, while a task with no VAULT_READ_PATHS at all is still refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
COMMAND = [sys.executable, "-c", "import os; print('ran', os.environ.get('DATABASE_URL', 'no-url'))"]


def entrypoint(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "scripts.runtime.cli", "secrets", "exec", "--vault-addr", "http://127.0.0.1:9",
         "--role", "prod-cleaner", "--", *COMMAND],
        cwd=REPO, env={**env, **extra}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_an_empty_read_list_runs_the_command_without_a_login() -> None:
    proc = entrypoint({"VAULT_READ_PATHS": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ran no-url"
    assert "nothing to read" in proc.stderr


def test_no_read_list_at_all_is_still_refused() -> None:
    proc = entrypoint({})
    assert proc.returncode == 1
    assert "ran" not in proc.stdout and "--path" in proc.stderr
