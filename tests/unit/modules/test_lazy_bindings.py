"""Lazy provider bindings (modules/aws.py, modules/node_runtime.py): the synthesized JSON is the
eager path's, byte for byte, for every environment; the guards fall back to the eager path."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from app.contracts.workspace import PROJECT_ROOT
from modules import aws
from tests.helpers.synth import Synth, synth_eager_fallback, tree

ENVS = ["dev", "local", "prod", "staging"]


@pytest.fixture(scope="module")
def eager(synthesized: Synth, session_tmp: Path) -> Synth:
    """The same synth as the session's, through the guards' fallback: the normal, eager imports."""
    env = {"PLATFORM_LOCAL_AWS_ENDPOINT": "http://127.0.0.1:4566", "PLATFORM_HOME": str(session_tmp / "home-synth")}
    return synth_eager_fallback(session_tmp / "synth-eager", env)


def test_lazy_synth_is_byte_identical_to_the_eager_synth_for_every_environment(
    synthesized: Synth, eager: Synth
) -> None:
    lazy_files, eager_files = tree(synthesized.outdir), tree(eager.outdir)
    assert sorted(lazy_files) == sorted(eager_files)
    for env in ENVS:
        assert any(name.startswith(f"stacks/{env}-") for name in lazy_files), f"{env} was not synthesized"
    different = [name for name in lazy_files if lazy_files[name] != eager_files[name]]
    assert different == [], f"lazy and eager synth differ in {different}"


def test_a_guard_mismatch_falls_back_to_the_eager_path_and_says_why(eager: Synth) -> None:
    assert "AWS provider bindings: normal (eager) import of all submodules: simulated version mismatch" in eager.log
    assert "jsii kernel: eager @cdktf/provider-aws@20.1.0: lib/index.js sha256" in eager.log
    assert "python bindings: eager; kernel index: eager" in eager.log


SINGLE_ENV_SYNTHS = """
import json, sys
from app.config import load_environment
from app.main import build_app
import modules.aws as aws
for name in sys.argv[2:]:
    build_app([load_environment(name)], f"{sys.argv[1]}/{name}").synth()
loaded = [m for m in sys.modules if m.startswith(aws.PACKAGE + ".") and m.count(".") == 1]
print(json.dumps({"python": aws.loading_mode(), "kernel": aws.kernel_index_verdict(), "modules": len(loaded)}))
"""


def test_one_environment_synth_is_lazy_and_matches_the_full_synth(synthesized: Synth, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PLATFORM_LOCAL_AWS_ENDPOINT": "http://127.0.0.1:4566",
        "PLATFORM_HOME": str(synthesized.outdir.parent / "home-synth"),
    }
    env.pop("PLATFORM_LAZY_BINDINGS", None)
    proc = subprocess.run(
        [sys.executable, "-c", SINGLE_ENV_SYNTHS, str(tmp_path), *ENVS],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["python"] == "lazy"
    assert report["kernel"].startswith("lazy @cdktf/provider-aws@20.1.0"), report["kernel"]
    assert 0 < report["modules"] < 100, f"{report['modules']} provider submodules imported"
    for name in ENVS:
        stacks = tree(tmp_path / name / "stacks")
        assert stacks, f"nothing synthesized for {name}"
        for rel, content in stacks.items():
            assert content == (synthesized.outdir / "stacks" / rel).read_bytes(), rel


def test_the_installed_bindings_are_the_ones_the_loader_was_checked_against() -> None:
    assert aws.lazy_blocker() is None


def _package_copy(tmp_path: Path) -> Path:
    spec_dir = aws.installed_package_dir()
    copy = tmp_path / aws.PACKAGE
    (copy / "_jsii").mkdir(parents=True)
    for rel in aws.PINNED_SHA256:
        shutil.copy(spec_dir / rel, copy / rel)
    (copy / "_jsii" / f"provider-aws@{aws.PINNED_VERSION}.jsii.tgz").write_bytes(b"")
    return copy


def test_the_guard_refuses_another_version_or_changed_generated_files(tmp_path: Path) -> None:
    copy = _package_copy(tmp_path)
    assert aws.lazy_blocker(copy, aws.PINNED_VERSION) is None
    assert "20.2.0 installed" in (aws.lazy_blocker(copy, "20.2.0") or "")
    init = copy / "__init__.py"
    init.write_text(init.read_text().replace("from . import s3_bucket\n", ""))
    assert f"{init} differs from the generated file" in (aws.lazy_blocker(copy, aws.PINNED_VERSION) or "")
    init.unlink()
    assert "unexpected layout" in (aws.lazy_blocker(copy, aws.PINNED_VERSION) or "")


def test_submodule_names_map_to_the_assemblys_submodules_and_the_index_pin_matches() -> None:
    """Every Python submodule maps to the jsii submodule the JS index exports, and the Node hook's
    pin is the SHA-256 of that index as shipped in the assembly tarball."""
    package_dir = aws.installed_package_dir()
    tarball = package_dir / "_jsii" / f"provider-aws@{aws.PINNED_VERSION}.jsii.tgz"
    with tarfile.open(tarball, "r:gz") as tar:
        member = next(m for m in tar if m.name == "package/lib/index.js")
        handle = tar.extractfile(member)
        assert handle is not None
        index = handle.read()
    assert aws.NODE_INDEX_PIN.endswith("#sha256=" + hashlib.sha256(index).hexdigest())
    exported = {
        line.split(" = ", 1)[0].removeprefix("exports.")
        for line in index.decode().splitlines()
        if " = require(" in line
    }
    fqns = aws.submodule_fqns(package_dir)
    assert len(fqns) == len(exported) == 2135
    assert {fqn.removeprefix(f"{aws.ASSEMBLY}.") for fqn in fqns} == exported
    assert fqns[f"{aws.ASSEMBLY}.lexv2ModelsBot"] == f"{aws.PACKAGE}.lexv2_models_bot"
