"""The parallel run starts the longest test files first (tests/conftest.py, docs/adr/0016): the list
must keep naming real files, or a renamed slow file silently starts last again."""

from __future__ import annotations

from app.contracts.workspace import PROJECT_ROOT
from tests.conftest import SLOW_FILES


def test_every_file_of_the_longest_first_list_exists() -> None:
    missing = [name for name in SLOW_FILES if not (PROJECT_ROOT / name).is_file()]
    assert missing == []
    assert len(set(SLOW_FILES)) == len(SLOW_FILES)
