"""A synth leaves nothing behind — no Node process, no /tmp/jsii-* directory, no report file —
whether it succeeds, stops on bad configuration, fails inside the jsii kernel or is terminated.

Each synth gets a private TMPDIR: everything the jsii runtime (Python and Node side) and the lazy
index hook create lives there, and the Node processes' command lines name it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.contracts import exitcodes
from app.contracts.workspace import PROJECT_ROOT

# A real error raised by the kernel mid-synth: the same environment twice in one App.
KERNEL_ERROR = """
from app.config import load_environment
from app.main import build_app
env = load_environment("dev")
build_app([env, env]).synth()
"""


def processes_naming(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited meanwhile
        if text in args:
            found.append(f"{cmdline.parent.name}: {args}")
    return found


def start(argv: list[str], tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], Path]:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    full_env = {**os.environ, "TMPDIR": str(private_tmp), "CDKTF_OUTDIR": str(tmp_path / "out"), **env}
    full_env.pop("PLATFORM_LAZY_BINDINGS", None)
    proc = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, private_tmp


def assert_nothing_left(private_tmp: Path) -> None:
    # A kernel that is still exiting gets a moment (a loaded machine); an orphan never goes away.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (processes_naming(str(private_tmp)) or any(private_tmp.iterdir())):
        time.sleep(0.1)
    assert sorted(p.name for p in private_tmp.iterdir()) == []
    assert processes_naming(str(private_tmp)) == []


@pytest.mark.parametrize(
    ("argv", "env", "status", "message"),
    [
        ([sys.executable, "-m", "app"], {"PLATFORM_ENVIRONMENTS": "dev"}, 0, ""),
        ([sys.executable, "-m", "app"], {"PLATFORM_ENVIRONMENTS": "nope"}, exitcodes.USAGE,
         "unknown environment 'nope'"),
        ([sys.executable, "-c", KERNEL_ERROR], {}, 1, "There is already a Construct with name 'dev-state'"),
    ],
    ids=["success", "configuration-error", "kernel-error"],
)
def test_a_synth_leaves_no_node_process_or_temporary_directory(
    tmp_path: Path, argv: list[str], env: dict[str, str], status: int, message: str
) -> None:
    proc, private_tmp = start(argv, tmp_path, **env)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == status, stderr[-3000:]
    assert message in stderr
    assert_nothing_left(private_tmp)


def test_a_terminated_synth_stops_the_kernel_and_removes_its_directories(tmp_path: Path) -> None:
    proc, private_tmp = start([sys.executable, "-m", "app"], tmp_path)
    deadline = time.monotonic() + 300
    while not any(p.name.startswith("jsii-kernel-") for p in private_tmp.iterdir()):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the jsii kernel never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert_nothing_left(private_tmp)
