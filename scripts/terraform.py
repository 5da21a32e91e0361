"""Run the real `terraform` binary with the project's environment, streaming its output."""

from __future__ import annotations

import logging
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from scripts.tfmirror import terraform_env

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TerraformResult:
    returncode: int
    tail: list[str]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class TerraformError(RuntimeError):
    def __init__(self, what: str, result: TerraformResult):
        self.result = result
        tail = "\n".join(f"    {line}" for line in result.tail[-15:])
        super().__init__(f"{what} failed (terraform exit code {result.returncode}). Last output:\n{tail}")


def run(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None, quiet: bool = False) -> TerraformResult:
    """Run terraform ARGS in CWD; every output line is logged (indented) as it arrives."""
    env = terraform_env()
    env.update(extra_env or {})
    env["TF_IN_AUTOMATION"] = "1"
    tail: deque[str] = deque(maxlen=60)
    proc = subprocess.Popen(
        ["terraform", *args, "-no-color"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip()
        tail.append(line)
        if line and not quiet:
            log.info("    %s", line)
    return TerraformResult(proc.wait(), list(tail))


def check(args: list[str], cwd: Path, what: str, quiet: bool = False) -> TerraformResult:
    """Like run(), but a non-zero exit raises TerraformError naming WHAT with the output's tail."""
    result = run(args, cwd, quiet=quiet)
    if not result.ok:
        raise TerraformError(what, result)
    return result
