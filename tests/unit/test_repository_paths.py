"""No tracked file names a path of one machine (a checkout or home directory).

Such a path works on the machine that wrote it and silently does something else in a second
clone or in CI (a test finds another checkout's tool, a usage line runs another checkout's code).
Paths must be resolved relative to the repository at run time.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# An absolute path under a typical checkout/home root, not preceded by a word character (so
# `https://host/home/...` and `./work/...` do not count).
MACHINE_PATH = re.compile(r"(?<![\w.~:/])/(?:work|home|Users|root)/[\w.-]+")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    return [REPO / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_names_an_absolute_machine_path() -> None:
    offenders = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "absolute machine paths (resolve relative to the repository):\n" + "\n".join(offenders)


def test_the_checkov_test_looks_only_inside_this_checkout() -> None:
    from tests.unit.stacks import test_checkov_network_database as checkov_test

    for candidate in checkov_test.CHECKOV_CANDIDATES:
        assert candidate.is_relative_to(REPO), candidate
