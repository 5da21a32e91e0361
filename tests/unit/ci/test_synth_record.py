"""Later stages use exactly what `ci synth` made: same environment, same commit, unedited stacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.ci import synth
from scripts.ci.context import git_commit
from scripts.ci.exitcodes import CiError
from scripts.ci.stacks import environment_stacks, sha256_file


def _synth_dir(tmp_path: Path, commit: str) -> Path:
    stack = tmp_path / "stacks" / "qa-net"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text('{"resource": {}}')
    (tmp_path / "manifest.json").write_text(json.dumps({"stacks": {"qa-net": {"dependencies": []}}}))
    record = {"environment": "qa", "git_commit": commit,
              "stacks": {"qa-net": {"synth_sha256": sha256_file(stack / "cdk.tf.json")}}}
    (tmp_path / synth.RECORD).write_text(json.dumps(record))
    return tmp_path


def test_a_matching_directory_is_accepted(tmp_path: Path) -> None:
    out = _synth_dir(tmp_path, git_commit())
    synth.check_record(out, "qa")
    synth.check_unchanged(out, environment_stacks(out, "qa"))


def test_other_environment_other_commit_and_edited_stacks_are_refused(tmp_path: Path) -> None:
    out = _synth_dir(tmp_path, "0" * 40)
    with pytest.raises(CiError, match="synthesized for 'qa', not 'prod'"):
        synth.check_record(out, "prod")
    with pytest.raises(CiError, match="synthesized at commit 0000"):
        synth.check_record(out, "qa")
    (out / "stacks" / "qa-net" / "cdk.tf.json").write_text('{"resource": {"x": {}}}')
    with pytest.raises(CiError, match="synthesized JSON of qa-net changed after `ci synth`"):
        synth.check_unchanged(out, environment_stacks(out, "qa"))


def test_a_directory_without_a_record_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(CiError, match="platformctl ci synth --env qa"):
        synth.check_record(tmp_path, "qa")
