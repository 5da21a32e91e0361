"""Packages the runtime modules from the repository's scripts/ (copied at build time into _src/,
which is not tracked: the repository keeps one copy of each module)."""

import shutil
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
STAGE = HERE / "_src"
# The closure of scripts/runtime.py's imports (tests/unit/scripts/test_runtime_package.py checks it).
MODULES = ["scripts/__init__.py", "app/__init__.py", "app/contracts/__init__.py", "app/contracts/names.py",
           "app/contracts/exitcodes.py", "scripts/cliexit.py",
           "scripts/runtime.py",
           "scripts/vault/__init__.py", "scripts/vault/client.py", "scripts/vault/secrets_exec.py",
           "scripts/vault/exec_cli.py", "scripts/vault/approle.py",
           # `job exec`, a scheduled job's container command (docs/adr/0025); psycopg is the image's own.
           "app/contracts/jobs.py", "scripts/jobs/__init__.py", "scripts/jobs/cli.py",
           "scripts/jobs/single_run.py"]  # fmt: skip

if (HERE.parent / "scripts").is_dir():  # building from the repository (not from an sdist)
    shutil.rmtree(STAGE, ignore_errors=True)
    for rel in MODULES:
        (STAGE / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(HERE.parent / rel, STAGE / rel)

setup(package_dir={"": "_src"}, packages=["app", "app.contracts", "scripts", "scripts.vault", "scripts.jobs"])
