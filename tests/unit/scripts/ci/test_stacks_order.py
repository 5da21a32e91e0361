"""Stacks come from the synthesized manifest, dependencies first, whatever their concerns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.ci.exitcodes import CiError
from scripts.ci.stacks import environment_stacks


def _synth(tmp_path: Path, stacks: dict[str, list[str]]) -> Path:
    doc = {"stacks": {n: {"workingDirectory": f"stacks/{n}", "dependencies": d} for n, d in stacks.items()}}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    return tmp_path


def test_dependency_order_for_any_set_of_stacks(tmp_path: Path) -> None:
    synth = _synth(tmp_path, {
        "qa-web": ["qa-db", "qa-net"], "qa-db": ["qa-net"], "qa-net": ["qa-state"], "qa-state": [],
        "qa-worker": ["qa-db"], "prod-net": [],
    })
    names = [s.name for s in environment_stacks(synth, "qa")]
    assert names == ["qa-state", "qa-net", "qa-db", "qa-web", "qa-worker"]
    assert environment_stacks(synth, "qa")[0].directory == (synth / "stacks" / "qa-state").resolve()


def test_selection_keeps_the_order(tmp_path: Path) -> None:
    synth = _synth(tmp_path, {"qa-b": ["qa-a"], "qa-a": []})
    assert [s.name for s in environment_stacks(synth, "qa", ["qa-b", "qa-a"])] == ["qa-a", "qa-b"]


def test_unknown_stack_cycle_and_missing_manifest_are_named(tmp_path: Path) -> None:
    synth = _synth(tmp_path, {"qa-a": ["qa-b"], "qa-b": ["qa-a"]})
    with pytest.raises(CiError, match="dependency cycle between stacks: qa-a, qa-b"):
        environment_stacks(synth, "qa")
    with pytest.raises(CiError, match="unknown stack"):
        environment_stacks(synth, "qa", ["qa-zzz"])
    with pytest.raises(CiError, match="lists no stack of environment 'dev'"):
        environment_stacks(synth, "dev")
    with pytest.raises(CiError, match="run `platformctl ci synth --env qa` first"):
        environment_stacks(tmp_path / "nowhere", "qa")
