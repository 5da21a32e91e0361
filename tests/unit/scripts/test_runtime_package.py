"""`platformctl secrets exec` runs where only the runtime package is installed (issue 11 item 4):
no cdktf, jsii, constructs, provider bindings, pydantic or psycopg, and none of the project's
synth-time packages (app, modules, stacks) — except the standard-library-only contract layer
`app.contracts` (docs/adr/0020), which the runtime shares with everything else.

The child process blocks those imports outright, so a stray import fails the test instead of
passing because the developer's venv happens to have everything.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BLOCKED = ("cdktf", "jsii", "constructs", "cdktf_cdktf_provider_aws", "pydantic", "psycopg", "app", "modules", "stacks")
RUNNER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        shared = name in ("app", "app.contracts") or name.startswith("app.contracts.")
        if name.split(".")[0] in {BLOCKED!r} and not shared:
            raise ImportError("blocked in the runtime test: " + name)
sys.meta_path.insert(0, Block())
from scripts.runtime import main
sys.argv[0] = "platformctl"
try:
    main()
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("scripts", "app"))
    print("LOADED", ",".join(loaded), file=sys.stderr)
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


def packaged_modules() -> set[str]:
    """The modules runtime/setup.py puts into the package (its MODULES list, read without running it)."""
    tree = ast.parse((REPO / "runtime" / "setup.py").read_text())
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "MODULES"]
    paths = ast.literal_eval(node.value)
    return {p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in paths}


def loaded_modules(stderr: str) -> set[str]:
    (line,) = [x for x in stderr.splitlines() if x.startswith("LOADED ")]
    return set(line.removeprefix("LOADED ").split(","))


def test_secrets_exec_help_without_cdktf_or_the_environment_model() -> None:
    proc = run("secrets", "exec", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: platformctl secrets exec" in proc.stdout
    assert "VAULT_ROLE" in proc.stdout and "VAULT_READ_PATHS" in proc.stdout
    # Everything it imported is in the runtime package, so `pip install ./runtime` is enough.
    assert loaded_modules(proc.stderr) <= packaged_modules()


def test_a_login_failure_is_reported_with_exit_1_without_the_full_project(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-approle.json"
    proc = run("secrets", "exec", "--vault-addr", "http://127.0.0.1:9", "--role", "local-app", "--auth", "approle",
               "--approle-file", str(missing), "--path", "app/database", "--", "true")  # fmt: skip
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert loaded_modules(proc.stderr) <= packaged_modules()


def test_the_full_platformctl_keeps_the_same_command() -> None:
    from scripts.commands import register_all
    from scripts.platformctl import cli
    from scripts.vault.exec_cli import exec_cmd

    register_all(cli)
    group = cli.commands["secrets"]
    assert getattr(group, "commands", {})["exec"] is exec_cmd


def test_job_exec_runs_in_the_runtime_package_and_refuses_without_the_login(tmp_path: Path) -> None:
    """A job's container command (`job exec`, docs/adr/0025) needs only the runtime package."""
    marker = tmp_path / "ran"
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "job", "exec", "--environment", "prod", "--job", "cleanup", "--timeout", "60",
         "--", "touch", str(marker)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )  # fmt: skip
    assert proc.returncode == 64, (proc.stdout, proc.stderr)
    assert "DATABASE_URL is not set" in proc.stderr and not marker.exists()
    assert loaded_modules(proc.stderr) <= packaged_modules()
