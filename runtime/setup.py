"""Packages scripts/runtime/ whole, plus the contract layer it imports (copied at build time into
_src/, which is not tracked: the repository keeps one copy of each module).

The boundary is a folder: a module added to scripts/runtime/ is shipped without editing this file.
tests/unit/test_runtime_package.py builds the wheel and imports every module from it alone.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
STAGE = HERE / "_src"
RUNTIME = "scripts/runtime"
# The bottom contract layer (names, exit codes; standard library only). When it becomes a package
# folder of its own, it is copied whole like RUNTIME.
CONTRACT = ["scripts/__init__.py", "scripts/contracts.py", "scripts/exitcodes.py"]

if (HERE.parent / "scripts").is_dir():  # building from the repository (not from an sdist)
    shutil.rmtree(STAGE, ignore_errors=True)
    shutil.copytree(HERE.parent / RUNTIME, STAGE / RUNTIME, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in CONTRACT:
        shutil.copy2(HERE.parent / rel, STAGE / rel)

setup(package_dir={"": "_src"}, packages=find_packages("_src"))
