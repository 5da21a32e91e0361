"""The stacks of one environment as the synthesized `manifest.json` lists them, in dependency order.

Nothing here knows the concerns (state, network, …): whatever stacks `python -m app` synthesized
for the environment are planned, ordered by the dependencies cdktf recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from app.contracts.workspace import CDKTF_MANIFEST, LOCK_FILE, SYNTH_FILE, stack_dir
from scripts.ci.exitcodes import ERROR, CiError


@dataclass(frozen=True)
class Stack:
    name: str
    directory: Path
    dependencies: tuple[str, ...]

    @property
    def synth_file(self) -> Path:
        return self.directory / SYNTH_FILE

    @property
    def lock_file(self) -> Path:
        return self.directory / LOCK_FILE


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def environment_stacks(synth_dir: Path, env_name: str, only: list[str] | None = None) -> list[Stack]:
    """Stacks named `<env>-*` in SYNTH_DIR's manifest, dependencies first (ties: by name)."""
    manifest_path = synth_dir / CDKTF_MANIFEST
    if not manifest_path.is_file():
        raise CiError(ERROR, f"{manifest_path} not found: run `platformctl ci synth --env {env_name}` first")
    raw = json.loads(manifest_path.read_text()).get("stacks", {})
    prefix = f"{env_name}-"
    found: dict[str, Stack] = {}
    for name, entry in raw.items():
        if not name.startswith(prefix):
            continue
        working_dir = entry.get("workingDirectory")
        found[name] = Stack(
            name=name,
            directory=(synth_dir / working_dir if working_dir else stack_dir(synth_dir, name)).resolve(),
            dependencies=tuple(d for d in entry.get("dependencies", []) if d.startswith(prefix)),
        )
    if not found:
        raise CiError(ERROR, f"{manifest_path} lists no stack of environment {env_name!r}")
    if only:
        unknown = sorted(set(only) - set(found))
        if unknown:
            raise CiError(ERROR, f"unknown stack(s) {', '.join(unknown)}; {env_name} has {', '.join(sorted(found))}")
    ordered = topological(found)
    return [s for s in ordered if not only or s.name in only]


def topological(stacks: dict[str, Stack]) -> list[Stack]:
    """Kahn's algorithm; a cycle is an error naming the stacks in it."""
    done: list[Stack] = []
    placed: set[str] = set()
    pending = dict(stacks)
    while pending:
        ready = sorted(n for n, s in pending.items() if all(d in placed or d not in stacks for d in s.dependencies))
        if not ready:
            raise CiError(ERROR, f"dependency cycle between stacks: {', '.join(sorted(pending))}")
        for name in ready:
            done.append(pending.pop(name))
            placed.add(name)
    return done
