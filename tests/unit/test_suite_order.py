"""The parallel run starts the longest test files first (tests/conftest.py, docs/adr/0016): the list
must keep naming real files, or a renamed slow file silently starts last again."""

from __future__ import annotations

import pytest

from app.contracts.workspace import PROJECT_ROOT
from tests.conftest import _UNIT_OF, SHARED_BASES, SLOW_FILES, pytest_xdist_make_scheduler


def test_every_file_of_the_longest_first_list_exists() -> None:
    missing = [name for name in SLOW_FILES if not (PROJECT_ROOT / name).is_file()]
    assert missing == []
    assert len(set(SLOW_FILES)) == len(SLOW_FILES)


def test_the_files_of_a_shared_base_are_one_work_unit_in_their_order() -> None:
    """A shared base (docs/adr/0022) is applied once only if its files run back to back on one
    worker, the reader before the file that builds on the base and clears it."""
    for name, paths in SHARED_BASES.items():
        assert all((PROJECT_ROOT / path).is_file() for path in paths), name
        first = SLOW_FILES.index(paths[0])
        assert SLOW_FILES[first : first + len(paths)] == paths, name
        assert {_UNIT_OF[path] for path in paths} == {f"shared-base:{name}"}


def test_the_parallel_scheduler_keeps_files_whole_and_joins_a_shared_base(pytestconfig: pytest.Config) -> None:
    class Loadfile:  # the parts of the run's config the scheduler reads: `-n 2 --dist loadfile`
        option = pytestconfig.option

        def getvalue(self, name: str) -> object:
            return {"dist": "loadfile", "tx": ["popen"] * 2, "numprocesses": 2}.get(name, pytestconfig.getvalue(name))

    sched = pytest_xdist_make_scheduler(Loadfile(), None)  # type: ignore[arg-type]
    units = {sched._split_scope(f"{path}::test_x") for paths in SHARED_BASES.values() for path in paths}
    assert len(units) == len(SHARED_BASES)
    assert sched._split_scope("tests/unit/app/test_config.py::test_a") == "tests/unit/app/test_config.py"
