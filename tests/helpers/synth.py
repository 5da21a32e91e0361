"""One synthesis of every environment, shared by the whole test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.contracts.workspace import PROJECT_ROOT


@dataclass(frozen=True)
class Synth:
    outdir: Path
    log: str = ""  # the synth process's stderr

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


def synth_all(outdir: Path, extra_env: dict[str, str] | None = None, argv: list[str] | None = None) -> Synth:
    """Run `python -m app` (exactly what `cdktf synth` runs; or ARGV) into OUTDIR."""
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), **(extra_env or {})}
    env.pop("PLATFORM_STATE_BOOTSTRAP", None)
    for name in ("PLATFORM_LAZY_BINDINGS", "PLATFORM_ENVIRONMENTS", "PLATFORM_LOCAL_VAULT_PORT"):
        if name not in (extra_env or {}):
            env.pop(name, None)
    cmd = argv or [sys.executable, "-m", "app"]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"synth failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return Synth(outdir, proc.stderr)


# `python -m app` with both lazy loaders refused by their guards (a version/layout mismatch is
# simulated), so that the provider bindings and the kernel's index load the normal, eager way.
FALLBACK_SYNTH = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s: %(message)s")
import modules.aws as aws
aws.NODE_INDEX_PIN = aws.NODE_INDEX_PIN.rsplit("=", 1)[0] + "=" + "0" * 64
aws.lazy_blocker = lambda *args, **kwargs: "simulated version mismatch"
from app.__main__ import main
status = main()
print(f"python bindings: {aws.loading_mode()}; kernel index: {aws.kernel_index_verdict()}", file=sys.stderr)
sys.exit(status)
"""


def synth_eager_fallback(outdir: Path, extra_env: dict[str, str] | None = None) -> Synth:
    """Every environment synthesized through the fallback (eager) path; `log` holds its debug log."""
    return synth_all(outdir, extra_env, [sys.executable, "-c", FALLBACK_SYNTH])


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ROOT (relative path -> content)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
