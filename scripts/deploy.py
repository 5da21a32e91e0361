"""`platformctl deploy` and `diff`: one environment's synth, then `cdktf deploy`/`cdktf diff`, offline-capable."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from app.contracts.names import ENVIRONMENTS_ENV
from app.contracts.workspace import CDKTF_MANIFEST, CDKTF_OUTDIR_ENV, PROJECT_ROOT, platform_home
from app.schema import EnvironmentConfig
from scripts.doctor import cdktf_cli_path
from scripts.tfmirror import terraform_env

log = logging.getLogger(__name__)

KEEP_MIGRATION_REPORTS = 10  # per environment, in .platform/migrations/


class DeployError(RuntimeError):
    """A failed deploy; `exit_code` is what `platformctl deploy` exits with (a failed migration
    gate passes its own code through: 7 timeout, 5 another migration running ...)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def migration_report_dir(env_name: str) -> Path:
    """A fresh directory for this deploy's migration gate reports (scripts/migrate/report.py)."""
    import tempfile

    base = platform_home() / "migrations"
    base.mkdir(parents=True, exist_ok=True)
    # Keep the reports and logs of the last few deploys per environment, not all of them.
    previous = sorted(base.glob(f"{env_name}-*"), key=lambda p: p.stat().st_mtime)
    for old in previous[: max(0, len(previous) - KEEP_MIGRATION_REPORTS + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{env_name}-", dir=base))


def gate_failure(report_dir: Path) -> DeployError | None:
    """The migration gate's own verdict, when a gate failed during this deploy."""
    from scripts.migrate.report import failed_reports

    failed = failed_reports(report_dir)
    if not failed:
        return None
    text = "\n\n".join(r.render() for r in failed)
    return DeployError(
        f"the migration gate stopped the deploy; the service was not updated and the previous "
        f"version keeps serving.\n{text}",
        exit_code=failed[0].exit_code,
    )


def refuse_if_locked(env: EnvironmentConfig) -> None:
    """One writer per environment, checked before anything is applied: a held state lock (another
    deploy or CI apply) refuses the deploy with exit LOCKED, naming the holder (scripts/state/locks.py)."""
    from app.contracts import exitcodes
    from scripts.state.locks import check_unlocked, locked_report

    held = check_unlocked(env)
    if held:
        raise DeployError(locked_report(env.name, held), exit_code=exitcodes.LOCKED)


def outputs_file(env_name: str) -> Path:
    path = platform_home() / "outputs" / f"{env_name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def cdktf_env(env: EnvironmentConfig) -> dict[str, str]:
    """Environment of a cdktf CLI run for ENV: Terraform offline settings, and a synth of this
    environment only (`python -m app` reads PLATFORM_ENVIRONMENTS); the others are validated by
    `platformctl validate`/CI."""
    env_vars = terraform_env()
    env_vars[ENVIRONMENTS_ENV] = env.name
    # cdktf.json runs `python -m app`: make that the interpreter platformctl itself runs on.
    env_vars["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env_vars.get("PATH", "")])
    return env_vars


def synth_environment(env: EnvironmentConfig, outdir: Path) -> list[str]:
    """`python -m app` for ENV only into OUTDIR (what `cdktf synth` runs); returns its stack names
    in deploy order."""
    env_vars = {**cdktf_env(env), CDKTF_OUTDIR_ENV: str(outdir)}
    log.info("==> synthesizing %s", env.name)
    proc = subprocess.run(
        [sys.executable, "-m", "app"], cwd=PROJECT_ROOT, env=env_vars, stdin=subprocess.DEVNULL, check=False
    )
    if proc.returncode != 0:
        raise DeployError(f"synthesizing {env.name} failed (exit {proc.returncode}); see the output above")
    stacks = json.loads((outdir / CDKTF_MANIFEST).read_text())["stacks"]
    ours = {name: stack.get("dependencies", []) for name, stack in stacks.items() if name.startswith(f"{env.name}-")}
    return deploy_order(ours)


def deploy_order(dependencies: dict[str, list[str]]) -> list[str]:
    """Stack names with every stack after the stacks it depends on (ties: by name)."""
    order: list[str] = []
    pending = dict(dependencies)
    while pending:
        ready = sorted(n for n, deps in pending.items() if all(d in order or d not in pending for d in deps))
        if not ready:
            raise DeployError(f"dependency cycle between stacks {', '.join(sorted(pending))}")
        order += ready[:1]
        del pending[ready[0]]
    return order


def cdktf_diff(env: EnvironmentConfig, stacks: list[str] | None = None, outdir: Path | None = None) -> list[str]:
    """`cdktf diff` (terraform plan) of ENV's stacks after one synth of ENV; returns the stacks
    whose diff failed (empty: every plan ran)."""
    cli = cdktf_cli_path()
    if cli is None:
        raise DeployError("cdktf CLI not found; run `npm ci` in the repository (see `platformctl doctor`)")
    outdir = outdir or PROJECT_ROOT / "cdktf.out"
    names = synth_environment(env, outdir)
    unknown = sorted(set(stacks or ()) - set(names))
    if unknown:
        raise DeployError(f"no stack {', '.join(unknown)} in {env.name} (its stacks: {', '.join(names)})")
    failed = []
    for name in [n for n in names if not stacks or n in stacks]:
        log.info("==> cdktf diff %s", name)
        cmd = [str(cli), "diff", name, "--skip-synth", "--output", str(outdir)]
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=cdktf_env(env), stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            failed.append(name)
    return failed


def cdktf_deploy(env: EnvironmentConfig, stacks: list[str] | None = None, outdir: Path | None = None) -> Path:
    """Run the cdktf CLI for this environment's stacks; returns the outputs file."""
    cli = cdktf_cli_path()
    if cli is None:
        raise DeployError("cdktf CLI not found; run `npm ci` in the repository (see `platformctl doctor`)")
    selection = stacks or [f"{env.name}-*"]
    out = outputs_file(env.name)
    env_vars = cdktf_env(env)
    # The migration gate (a local-exec step inside Terraform) reports its verdict here.
    from scripts.migrate.report import REPORT_DIR_ENV

    reports = migration_report_dir(env.name)
    env_vars[REPORT_DIR_ENV] = str(reports)
    cmd = [str(cli), "deploy", *selection, "--auto-approve", "--outputs-file", str(out)]
    if outdir is not None:
        cmd += ["--output", str(outdir)]
    log.info("==> cdktf deploy %s", " ".join(selection))
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env_vars, stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        gate = gate_failure(reports)
        if gate is not None:
            raise gate
        # Another writer that started after our check: its lock is still held (ours is released).
        refuse_if_locked(env)
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
