"""The local target's password files are never readable by other users, not even briefly.

Run with the most permissive umask (0): a file created with the default mode and chmod'ed
afterwards would be world-readable until the chmod; the superuser password file initdb reads
was never chmod'ed at all.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.localtarget import postgres, target
from scripts.localtarget.private_files import write_private
from scripts.localtarget.procs import free_port

pytestmark = pytest.mark.integration


@pytest.fixture()
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_superuser_password_files_are_0600_while_initdb_runs(open_umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, int] = {}
    real_run = subprocess.run

    def spying_run(args: list[str], *a: Any, **kw: Any) -> Any:
        for arg in args:
            if arg.startswith("--pwfile="):
                pw = Path(arg.split("=", 1)[1])
                seen[pw.name] = _mode(pw)
                for sibling in pw.parent.glob("*.pw"):
                    seen[sibling.name] = _mode(sibling)
        return real_run(args, *a, **kw)

    monkeypatch.setattr(postgres.subprocess, "run", spying_run)
    # Directly below /tmp: the postgres OS user (when we are root) must reach the data directory.
    with tempfile.TemporaryDirectory(prefix="platform-pw-") as d:
        os.chmod(d, 0o755)
        data_dir = Path(d) / "pg"
        server = postgres.start(data_dir, free_port())
        try:
            assert len(seen) == 2, seen  # the initdb password file and the kept one
            assert set(seen.values()) == {0o600}, {k: oct(v) for k, v in seen.items()}
            assert _mode(Path(d) / "pg.pw") == 0o600
            assert not list(Path(d).glob(".pg.initpw*")), "the initdb password file must be removed"
            assert server.password == (Path(d) / "pg.pw").read_text()
        finally:
            postgres.stop(data_dir)


def test_pgpass_is_created_private_not_chmoded_afterwards(
    open_umask: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    (tmp_path / "pg.pw").write_text("local-superuser-pw")
    # A chmod after the write would hide the window; take it away to see the mode at creation.
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)
    state = target.TargetState(pg_port=5432, pg_data_dir=str(tmp_path / "pg"))
    target.target_dir().mkdir(parents=True, exist_ok=True)
    path = target._write_pgpass(state)
    assert _mode(path) == 0o600
    assert path.read_text().endswith(":postgres:local-superuser-pw\n")


def test_write_private_replaces_an_existing_readable_file(open_umask: None, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert (_mode(path), path.read_text()) == (0o600, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["secret"], "no temporary file is left behind"
