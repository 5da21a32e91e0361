"""Where the project keeps machine-local files (never committed): `.platform/` by default.

In the runtime package because `secrets exec --auth approle` finds its credentials file here; in
an installed platform-runtime PROJECT_ROOT is the install directory, so set PLATFORM_HOME there."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def platform_home() -> Path:
    """Local working files: target endpoints, Terraform CLI config, bootstrap state."""
    home = Path(os.environ.get("PLATFORM_HOME", PROJECT_ROOT / ".platform"))
    home.mkdir(parents=True, exist_ok=True)
    return home
