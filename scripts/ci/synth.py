"""`ci synth`: synthesize one environment once, with provider lock files, and record what was made.

Later stages read this directory and never synthesize again; `ci-synth.json` names the commit it
was made from so a plan on another checkout is refused. A working tree with uncommitted changes
is refused (the commit would not say what was synthesized) unless `--allow-dirty`, which records
the sha256 of those changes; `plan` and `apply` then insist on exactly them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from app.contracts.names import BOOTSTRAP_ENV, ENVIRONMENTS_ENV
from app.contracts.workspace import CDKTF_OUTDIR_ENV, PROJECT_ROOT
from scripts.ci.context import git_commit, git_dirty_sha256
from scripts.ci.exitcodes import ERROR, CiError
from scripts.ci.stacks import Stack, environment_stacks, sha256_file
from scripts.tfmirror import find_mirror

log = logging.getLogger(__name__)
RECORD = "ci-synth.json"


def synth(env_name: str, outdir: Path, allow_dirty: bool = False) -> list[Stack]:
    dirty = git_dirty_sha256()
    if dirty is not None and not allow_dirty:
        raise CiError(ERROR, "the working tree has uncommitted changes, so the commit would not say what was "
                      "synthesized: commit them, or pass --allow-dirty to record their hash")
    env = {**os.environ, ENVIRONMENTS_ENV: env_name, CDKTF_OUTDIR_ENV: str(outdir)}
    env.pop(BOOTSTRAP_ENV, None)  # CI plans the real backend, never the bootstrap one
    log.info("==> synth %s into %s", env_name, outdir)
    proc = subprocess.run(
        [sys.executable, "-m", "app"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, check=False,
    )
    if proc.returncode != 0:
        raise CiError(ERROR, f"synth of {env_name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    stacks = environment_stacks(outdir, env_name)
    missing = [s.name for s in stacks if not s.lock_file.is_file()]
    if missing and find_mirror() is not None:
        raise CiError(ERROR, f"no provider lock file for {', '.join(missing)} after synth")
    if missing:
        log.warning("no provider lock files (no offline mirror): terraform init will pin them at plan time")
    record = {
        "environment": env_name,
        "git_commit": git_commit(),
        "git_dirty_sha256": dirty,
        "stacks": {s.name: {"synth_sha256": sha256_file(s.synth_file), "dependencies": list(s.dependencies)}
                   for s in stacks},
    }
    (outdir / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return stacks


def check_record(outdir: Path, env_name: str) -> None:
    """Refuse a synth directory made for another environment or from another commit."""
    path = outdir / RECORD
    if not path.is_file():
        raise CiError(ERROR, f"{path} not found: produce the directory with `platformctl ci synth --env {env_name}`")
    record = json.loads(path.read_text())
    if record.get("environment") != env_name:
        raise CiError(ERROR, f"{outdir} was synthesized for {record.get('environment')!r}, not {env_name!r}")
    commit = git_commit()
    if record.get("git_commit") != commit:
        raise CiError(ERROR, f"{outdir} was synthesized at commit {record.get('git_commit')}, checkout is {commit}: "
                      "synth again")
    if record.get("git_dirty_sha256") != git_dirty_sha256():
        raise CiError(ERROR, f"{outdir} was synthesized from other uncommitted changes than this working tree's "
                      f"(recorded {record.get('git_dirty_sha256') or 'none'}): synth again")


def check_unchanged(outdir: Path, stacks: list[Stack]) -> None:
    """Refuse stacks whose synthesized JSON was edited after `ci synth` recorded it."""
    recorded = json.loads((outdir / RECORD).read_text()).get("stacks", {})
    edited = [s.name for s in stacks if recorded.get(s.name, {}).get("synth_sha256") != sha256_file(s.synth_file)]
    if edited:
        raise CiError(ERROR, f"synthesized JSON of {', '.join(edited)} changed after `ci synth`: synth again")
