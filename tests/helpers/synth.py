"""One synthesis of every environment, shared by the whole test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.workspace import PROJECT_ROOT


@dataclass(frozen=True)
class Synth:
    outdir: Path

    def stack_dir(self, name: str) -> Path:
        return self.outdir / "stacks" / name

    def stack(self, name: str) -> dict[str, Any]:
        return json.loads((self.stack_dir(name) / "cdk.tf.json").read_text())

    def stack_names(self) -> list[str]:
        return sorted(p.name for p in (self.outdir / "stacks").iterdir())

    def resources(self, name: str, rtype: str) -> dict[str, Any]:
        return self.stack(name).get("resource", {}).get(rtype, {})

    def one(self, name: str, rtype: str) -> dict[str, Any]:
        found = list(self.resources(name, rtype).values())
        assert len(found) == 1, f"expected one {rtype} in {name}, found {len(found)}"
        return found[0]


def synth_all(outdir: Path, extra_env: dict[str, str] | None = None) -> Synth:
    """Run `python -m app` (exactly what `cdktf synth` runs) into OUTDIR."""
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), **(extra_env or {})}
    env.pop("PLATFORM_STATE_BOOTSTRAP", None)
    proc = subprocess.run([sys.executable, "-m", "app"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"synth failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return Synth(outdir)
