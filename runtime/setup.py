"""Packages two folders whole: scripts/runtime/ (what runs inside a container: `secrets exec`) and
the contract layer it imports, app/contracts/ (names, exit codes; standard library only). They are
copied at build time into _src/, which is not tracked: the repository keeps one copy of each module.

The boundary is folders: a module added to either is shipped without editing this file.
tests/unit/scripts/test_runtime_package.py builds the package and imports every module from it alone.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
STAGE = HERE / "_src"
FOLDERS = ["scripts/runtime", "app/contracts"]
PARENTS = ["scripts/__init__.py", "app/__init__.py"]  # both empty: importing them loads nothing else

if (HERE.parent / "scripts").is_dir():  # building from the repository (not from an sdist)
    shutil.rmtree(STAGE, ignore_errors=True)
    for folder in FOLDERS:
        shutil.copytree(HERE.parent / folder, STAGE / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in PARENTS:
        shutil.copy2(HERE.parent / rel, STAGE / rel)

setup(package_dir={"": "_src"}, packages=find_packages("_src"))
