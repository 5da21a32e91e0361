"""Terraform invocations of the CI stages, on a synthesized stack directory.

Streaming commands go through scripts/terraform.py. Output that holds state or plan contents
(`state pull`, `show -json`) is captured here and never logged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.contracts.workspace import platform_home
from scripts import terraform
from scripts.ci.exitcodes import ERROR, CiError, classify_failure
from scripts.ci.manifest import StateRef
from scripts.tfmirror import terraform_env

CACHE_ENV = "TF_PLUGIN_CACHE_DIR"


def ci_env() -> dict[str, str]:
    """Terraform's environment: offline mirror, one shared plugin cache, never an input prompt."""
    env = terraform_env()
    env["TF_INPUT"] = "0"
    env["TF_IN_AUTOMATION"] = "1"
    if CACHE_ENV not in env:
        cache = platform_home() / "plugin-cache"
        cache.mkdir(parents=True, exist_ok=True)
        env[CACHE_ENV] = str(cache)  # a 675 MB provider linked into each stack, not copied
    # The migration gate's local-exec step runs `platformctl`: the one of this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _capture(args: list[str], cwd: Path, what: str) -> bytes:
    proc = subprocess.run(
        ["terraform", *args], cwd=cwd, env=ci_env(), capture_output=True, stdin=subprocess.DEVNULL, check=False
    )
    if proc.returncode != 0:
        # stderr of these commands carries diagnostics, not state; stdout (the secret part) is dropped.
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-10:]
        raise CiError(ERROR, f"{what} failed (terraform exit {proc.returncode}) in {cwd}:\n  " + "\n  ".join(tail))
    return proc.stdout


def _failed(what: str, result: terraform.TerraformResult) -> CiError:
    """The error part of the output only: a plan prints its diff (values) before any error."""
    tail = list(result.tail)
    first = next((i for i, line in enumerate(tail) if line.lstrip("│ ").startswith("Error")), 0)
    kept = terraform.TerraformResult(result.returncode, tail[first:])
    return CiError(classify_failure(result.tail), str(terraform.TerraformError(what, kept)))


def version() -> str:
    data = json.loads(_capture(["version", "-json"], Path.cwd(), "terraform version"))
    return str(data["terraform_version"])


def init(stack_dir: Path) -> None:
    result = terraform.run(["init", "-input=false", "-reconfigure"], stack_dir, extra_env=ci_env(), quiet=True)
    if not result.ok:
        raise _failed(f"terraform init in {stack_dir}", result)


def state(stack_dir: Path) -> StateRef:
    raw = _capture(["state", "pull"], stack_dir, "terraform state pull").strip()
    if not raw:
        return StateRef(exists=False)
    data = json.loads(raw)
    if not data.get("resources") and int(data.get("serial", 0)) == 0:
        return StateRef(exists=False)  # some backends hand out a fresh empty state instead of nothing
    return StateRef(exists=True, serial=int(data["serial"]), lineage=str(data["lineage"]))


def plan(stack_dir: Path, out: Path, lock_timeout: str, lock: bool = True) -> bool:
    """Save a plan to OUT; True when it has changes. The human-readable diff is not logged."""
    args = ["plan", "-input=false", "-detailed-exitcode", f"-lock-timeout={lock_timeout}", f"-out={out}"]
    if not lock:
        args.append("-lock=false")
    result = terraform.run(args, stack_dir, extra_env=ci_env(), quiet=True)
    if result.returncode not in (0, 2):
        raise _failed(f"terraform plan of {stack_dir.name}", result)
    return result.returncode == 2


def show_json(stack_dir: Path, plan_file: Path) -> bytes:
    return _capture(["show", "-json", str(plan_file)], stack_dir, "terraform show -json")


def apply(stack_dir: Path, plan_file: Path, lock_timeout: str, extra_env: dict[str, str] | None = None) -> None:
    args = ["apply", "-input=false", f"-lock-timeout={lock_timeout}", str(plan_file)]
    result = terraform.run(args, stack_dir, extra_env={**ci_env(), **(extra_env or {})})
    if not result.ok:
        raise _failed(f"terraform apply of {stack_dir.name}", result)
