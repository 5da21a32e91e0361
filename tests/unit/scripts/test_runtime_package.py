"""`platformctl secrets exec` runs where only the runtime package is installed (issue 11 item 4):
no cdktf, jsii, constructs, provider bindings, pydantic or psycopg, and none of the project's
synth-time packages (app, modules, stacks) — except the standard-library-only contract layer
`app.contracts` (docs/adr/0020), which the runtime shares with everything else.

The child process blocks those imports outright, so a stray import fails the test instead of
passing because the developer's venv happens to have everything.

The package's boundary is the folder scripts/runtime/ (issue 19 item 4): the build ships it whole
plus the contract layer, the folder imports nothing else, and every shipped module imports from the
build alone.
"""

from __future__ import annotations

import ast
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BLOCKED = ("cdktf", "jsii", "constructs", "cdktf_cdktf_provider_aws", "pydantic", "psycopg", "app", "modules", "stacks")
RUNNER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        shared = name in ("app", "app.contracts") or name.startswith("app.contracts.")
        if name.split(".")[0] in {BLOCKED!r} and not shared:
            raise ImportError("blocked in the runtime test: " + name)
sys.meta_path.insert(0, Block())
from scripts.runtime.cli import main
sys.argv[0] = "platformctl"
try:
    main()
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("scripts", "app"))
    print("LOADED", ",".join(loaded), file=sys.stderr)
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the wheel holds: runtime/setup.py's build_py output (pure Python, so the same files)."""
    out = tmp_path_factory.mktemp("runtime-build")
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(out)], cwd=REPO / "runtime",
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    return out


def modules_in(root: Path) -> set[str]:
    return {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for p in root.rglob("*.py")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def packaged_modules(built: Path) -> set[str]:
    return modules_in(built)


def loaded_modules(stderr: str) -> set[str]:
    (line,) = [x for x in stderr.splitlines() if x.startswith("LOADED ")]
    return set(line.removeprefix("LOADED ").split(","))


def test_secrets_exec_help_without_cdktf_or_the_environment_model(packaged_modules: set[str]) -> None:
    proc = run("secrets", "exec", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: platformctl secrets exec" in proc.stdout
    assert "VAULT_ROLE" in proc.stdout and "VAULT_READ_PATHS" in proc.stdout
    # Everything it imported is in the runtime package, so `pip install ./runtime` is enough.
    assert loaded_modules(proc.stderr) <= packaged_modules


def test_a_login_failure_is_reported_with_exit_1_without_the_full_project(
    tmp_path: Path, packaged_modules: set[str]
) -> None:
    missing = tmp_path / "no-such-approle.json"
    proc = run("secrets", "exec", "--vault-addr", "http://127.0.0.1:9", "--role", "local-app", "--auth", "approle",
               "--approle-file", str(missing), "--path", "app/database", "--", "true")  # fmt: skip
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert loaded_modules(proc.stderr) <= packaged_modules


def test_the_full_platformctl_keeps_the_same_command() -> None:
    from scripts.commands import register_all
    from scripts.platformctl import cli
    from scripts.runtime.exec_cli import exec_cmd

    register_all(cli)
    group = cli.commands["secrets"]
    assert getattr(group, "commands", {})["exec"] is exec_cmd


# The runtime's declared dependencies (runtime/pyproject.toml) by import name, and what they bring:
# requests comes with hvac, botocore with boto3.
THIRD_PARTY = {"boto3", "botocore", "hvac", "requests", "click"}
# `job exec` (docs/adr/0025) imports psycopg lazily, only in a job's image, which has its own.
IMAGE_PROVIDED = {"psycopg"}
# The contract layer (docs/adr/0020), shipped whole, and the two empty parent packages.
CONTRACT = {"scripts", "app", "app.contracts"} | {f"app.contracts.{p.stem}" for p in (REPO / "app" / "contracts").glob(
    "[!_]*.py")}


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" if node.module in ("scripts", "app", "app.contracts")
                         else node.module for alias in node.names)  # fmt: skip
    return found


def allowed(name: str) -> bool:
    top = name.split(".")[0]
    return (top in sys.stdlib_module_names or top in THIRD_PARTY or top in IMAGE_PROVIDED or name in CONTRACT
            or name == "scripts.runtime" or name.startswith("scripts.runtime."))  # fmt: skip


def test_the_runtime_folder_imports_only_itself_the_contract_layer_and_its_dependencies() -> None:
    """Lazy imports inside functions count: they fail in a container as much as top-level ones."""
    outside = {
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted((REPO / "scripts" / "runtime").rglob("*.py"))
        for name in imports_of(path)
        if not allowed(name)
    }
    assert outside == set()
    assert not allowed("scripts.vault.spec") and not allowed("app.schema") and not allowed("pydantic")


def test_the_build_ships_the_runtime_folder_whole_and_only_the_contract_layer_besides(
    packaged_modules: set[str],
) -> None:
    inside = modules_in(REPO / "scripts" / "runtime")
    folder = {"scripts.runtime" + ("" if m == "__init__" else f".{m}") for m in inside}
    assert folder | CONTRACT == packaged_modules


IMPORT_ALL = """
import importlib, sys
BLOCKED = {blocked!r}
class Block:
    @staticmethod
    def find_spec(name, path=None, target=None):
        shared = name in ("app", "app.contracts") or name.startswith("app.contracts.")
        if name.split(".")[0] in BLOCKED and not shared:
            raise ImportError("blocked in the runtime test: " + name)
sys.meta_path.insert(0, Block())
for name in sorted({modules!r}):
    importlib.import_module(name)
outside = sorted(m.__name__ for m in list(sys.modules.values())
                 if m.__name__.split(".")[0] in ("scripts", "app") and not (m.__file__ or "").startswith({root!r}))
assert not outside, outside
print("OK", len({modules!r}))
"""


def test_every_shipped_module_imports_from_the_build_alone(built: Path, packaged_modules: set[str]) -> None:
    """No site processing (-S): the project's editable install is not on the path, only the build
    and the directories the dependencies live in."""
    code = IMPORT_ALL.format(blocked=BLOCKED, modules=packaged_modules, root=str(built))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(built), *site.getsitepackages()])}
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=built, env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"OK {len(packaged_modules)}"


def test_job_exec_runs_in_the_runtime_package_and_refuses_without_the_login(
    tmp_path: Path, packaged_modules: set[str]
) -> None:
    """A job's container command (`job exec`, docs/adr/0025) needs only the runtime package."""
    marker = tmp_path / "ran"
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "job", "exec", "--environment", "prod", "--job", "cleanup", "--timeout", "60",
         "--", "touch", str(marker)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
    )  # fmt: skip
    assert proc.returncode == 64, (proc.stdout, proc.stderr)
    assert "DATABASE_URL is not set" in proc.stderr and not marker.exists()
    assert loaded_modules(proc.stderr) <= packaged_modules
