"""`platformctl deploy`: validate, bootstrap state, then `cdktf deploy '<env>-*'` with offline support."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from app.schema import EnvironmentConfig
from scripts.doctor import cdktf_cli_path
from scripts.tfmirror import terraform_env
from scripts.workspace import PROJECT_ROOT, platform_home

log = logging.getLogger(__name__)


class DeployError(RuntimeError):
    pass


def outputs_file(env_name: str) -> Path:
    path = platform_home() / "outputs" / f"{env_name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def cdktf_deploy(env: EnvironmentConfig, stacks: list[str] | None = None, outdir: Path | None = None) -> Path:
    """Run the cdktf CLI for this environment's stacks; returns the outputs file."""
    cli = cdktf_cli_path()
    if cli is None:
        raise DeployError("cdktf CLI not found; run `npm ci` in the repository (see `platformctl doctor`)")
    selection = stacks or [f"{env.name}-*"]
    out = outputs_file(env.name)
    env_vars = terraform_env()
    # Synthesize only this environment: the others are validated by `platformctl validate`/CI.
    env_vars["PLATFORM_ENVIRONMENTS"] = env.name
    # cdktf.json runs `python -m app`: make that the interpreter platformctl itself runs on.
    env_vars["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env_vars.get("PATH", "")])
    cmd = [str(cli), "deploy", *selection, "--auto-approve", "--outputs-file", str(out)]
    if outdir is not None:
        cmd += ["--output", str(outdir)]
    log.info("==> cdktf deploy %s", " ".join(selection))
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env_vars, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise DeployError(
            f"cdktf deploy failed (exit {proc.returncode}); the output above names the stack and resource. "
            "Stacks that finished stay applied; fix the cause and re-run: unchanged stacks are no-ops."
        )
    return out


def summarize_outputs(path: Path) -> list[str]:
    if not path.exists():
        return []
    data = json.loads(path.read_text() or "{}")
    lines = []
    for stack, outputs in sorted(data.items()):
        for name, value in sorted(outputs.items()):
            lines.append(f"{stack}.{name} = {value}")
    return lines
