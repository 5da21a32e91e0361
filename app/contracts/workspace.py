"""Where the project keeps machine-local files (never committed): `.platform/` by default."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # app/contracts/ -> the checkout


def platform_home() -> Path:
    """Local working files: target endpoints, Terraform CLI config, bootstrap state."""
    home = Path(os.environ.get("PLATFORM_HOME", PROJECT_ROOT / ".platform"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def bootstrap_state_path(stack_name: str) -> Path:
    """Local state of a state stack while `platformctl state bootstrap` creates its bucket."""
    return platform_home() / "bootstrap" / f"{stack_name}.tfstate"


# cdktf's synthesis output (the directory `CDKTF_OUTDIR` names): its manifest, and per stack a
# directory holding the stack's Terraform JSON and the provider lock file written next to it.
CDKTF_OUTDIR_ENV = "CDKTF_OUTDIR"
CDKTF_MANIFEST = "manifest.json"
STACKS_DIR = "stacks"
SYNTH_FILE = "cdk.tf.json"
LOCK_FILE = ".terraform.lock.hcl"


def stack_dir(outdir: Path, stack: str) -> Path:
    """Where cdktf synthesizes STACK below OUTDIR."""
    return outdir / STACKS_DIR / stack
