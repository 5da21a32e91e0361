"""Later stages use exactly what `ci synth` made: same environment, same commit, unedited stacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scripts.ci import context, synth
from scripts.ci.context import git_commit, git_dirty_sha256
from scripts.ci.exitcodes import ERROR, CiError
from scripts.ci.stacks import environment_stacks, sha256_file


def _synth_dir(tmp_path: Path, commit: str) -> Path:
    stack = tmp_path / "stacks" / "qa-net"
    stack.mkdir(parents=True)
    (stack / "cdk.tf.json").write_text('{"resource": {}}')
    (tmp_path / "manifest.json").write_text(json.dumps({"stacks": {"qa-net": {"dependencies": []}}}))
    record = {"environment": "qa", "git_commit": commit, "git_dirty_sha256": git_dirty_sha256(),
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


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real git checkout standing in for the project root."""
    root = tmp_path / "repo"
    root.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    (root / "app.py").write_text("x = 1\n")
    (root / ".gitignore").write_text("cdktf.out/\n")
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True)
    monkeypatch.setattr(context, "PROJECT_ROOT", root)
    return root


def test_the_dirty_hash_tracks_edits_and_untracked_files_but_not_ignored_ones(repo: Path) -> None:
    assert context.git_dirty_sha256() is None
    (repo / "cdktf.out").mkdir()
    (repo / "cdktf.out" / "x.json").write_text("{}")
    assert context.git_dirty_sha256() is None  # ignored output is not a change
    (repo / "app.py").write_text("x = 2\n")
    edited = context.git_dirty_sha256()
    (repo / "new.py").write_text("y = 1\n")
    with_new = context.git_dirty_sha256()
    (repo / "new.py").write_text("y = 2\n")
    assert None not in (edited, with_new) and len({edited, with_new, context.git_dirty_sha256()}) == 3


def test_synth_refuses_a_dirty_tree_unless_allowed(repo: Path, tmp_path: Path) -> None:
    (repo / "app.py").write_text("x = 2\n")
    with pytest.raises(CiError, match=r"uncommitted changes.*--allow-dirty") as err:
        synth.synth("qa", tmp_path / "out")
    assert err.value.exit_code == ERROR and not (tmp_path / "out").exists()  # refused before synthesizing


def test_plan_refuses_a_synth_made_from_other_uncommitted_changes(repo: Path, tmp_path: Path) -> None:
    (repo / "app.py").write_text("x = 2\n")
    out = _synth_dir(tmp_path / "out", context.git_commit())  # records the current dirty hash
    synth.check_record(out, "qa")
    (repo / "app.py").write_text("x = 3\n")
    with pytest.raises(CiError, match="other uncommitted changes"):
        synth.check_record(out, "qa")
