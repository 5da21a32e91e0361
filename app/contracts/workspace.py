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
