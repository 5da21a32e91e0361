"""The one place that imports the prebuilt hashicorp/aws 5.100.0 bindings (cdktf-cdktf-provider-aws
20.1.0). Constructs import resource modules from here: `from modules import aws; aws.s3_bucket.S3Bucket`.

The package `__init__` of 20.1.0 registers the jsii assembly and then imports all 2,135 generated
submodules (≈5 s, and ≈3 s more to tear them down at exit); the project uses about 45. So this
module registers the package *without* running that `__init__`, loads the assembly through the
package's `_jsii` module, and imports a submodule on first use. The jsii runtime is told where each
submodule lives, so an object of a not-yet-imported type coming back from the kernel still resolves.

This is only done for the exact files it was checked against (pinned version and SHA-256 of the two
generated `__init__` files). On anything else it falls back to the normal import — correct, just
slow — and says why in a debug log. `PLATFORM_LAZY_BINDINGS=off` forces the normal import (the
benchmark's naive path). The Node side of the same idea is modules/node_runtime.py.
Decision: docs/adr/0009-lazy-provider-bindings.md.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

from modules import node_runtime

log = logging.getLogger(__name__)

PACKAGE = "cdktf_cdktf_provider_aws"
DISTRIBUTION = "cdktf-cdktf-provider-aws"
ASSEMBLY = "@cdktf/provider-aws"
PINNED_VERSION = "20.1.0"
# What the lazy path reproduces: `__init__.py` = `from ._jsii import *` + eager import of every
# submodule (no types of its own); `_jsii/__init__.py` = load the assembly tarball.
PINNED_SHA256 = {
    "__init__.py": "b572adc0d5678ee04026e6947059edbfd0011fa7e5da99ab61428e0c401d7414",
    "_jsii/__init__.py": "18ae637341d4326aa0d2d67f2a17b3b4f7d7b0fa0e41844dcd586230b9614970",
}
# The Node side (modules/lazy_index_hook.js) is keyed to the package's lib/index.js.
NODE_INDEX_PIN = (
    f"{ASSEMBLY}@{PINNED_VERSION}#sha256=23f7368584d5d11a9407b161d62968e96d902b8e8affbf185987af42505e8314"
)

_loaded: tuple[ModuleType, str] | None = None  # (package, "lazy" | "eager")


def __getattr__(name: str) -> ModuleType:
    if name.startswith("_"):
        raise AttributeError(name)
    package_module()
    qualified = f"{PACKAGE}.{name}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name != qualified:
            raise
        raise AttributeError(f"the AWS provider bindings have no module {name!r}") from exc
    globals()[name] = module
    return module


def loading_mode() -> str:
    """How the Python bindings were loaded: 'lazy' or 'eager' ('not loaded' before first use)."""
    return _loaded[1] if _loaded else "not loaded"


def kernel_index_verdict() -> str:
    """How the kernel loaded the provider's JS index ('lazy …' or 'eager: <why>')."""
    package_module()
    return node_runtime.take_report()


def package_module() -> ModuleType:
    """The provider package, registered lazily when allowed, else imported normally."""
    global _loaded
    if _loaded is None:
        _loaded = _load()
    return _loaded[0]


def _load() -> tuple[ModuleType, str]:
    if PACKAGE in sys.modules:  # imported before us (eagerly, or by an earlier lazy registration)
        module = sys.modules[PACKAGE]
        return module, "lazy" if getattr(module, "__platform_lazy__", False) else "eager"
    blocker = lazy_blocker() if node_runtime.python_lazy_enabled() else f"disabled by {node_runtime.SWITCH}=off"
    # Normally modules/cdk.py started the kernel already (then this is a no-op).
    with node_runtime.kernel_environment(NODE_INDEX_PIN):
        if blocker is None:
            try:
                package = _register_lazily()
            except Exception as exc:  # any surprise: the normal import is still correct
                sys.modules.pop(PACKAGE, None)
                sys.modules.pop(f"{PACKAGE}._jsii", None)
                blocker = f"lazy registration failed: {exc!r}"
            else:
                log.debug("AWS provider bindings: submodules are imported on first use")
                node_runtime.take_report()
                return package, "lazy"
        log.debug("AWS provider bindings: normal (eager) import of all submodules: %s", blocker)
        package = importlib.import_module(PACKAGE)
    node_runtime.take_report()
    return package, "eager"


def lazy_blocker(package_dir: Path | None = None, version: str | None = None) -> str | None:
    """Why the lazy path must not be used for these installed bindings (None: it may)."""
    try:
        package_dir = package_dir or installed_package_dir()
        version = version if version is not None else metadata.version(DISTRIBUTION)
    except (ImportError, metadata.PackageNotFoundError) as exc:
        return f"cannot locate {DISTRIBUTION}: {exc}"
    if version != PINNED_VERSION:
        return f"{DISTRIBUTION} {version} installed; the lazy loader was checked against {PINNED_VERSION}"
    for rel, expected in PINNED_SHA256.items():
        path = package_dir / rel
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            return f"unexpected layout: {exc}"
        if actual != expected:
            return f"unexpected layout: {path} differs from the generated file of {PINNED_VERSION}"
    if not (package_dir / "_jsii" / f"provider-aws@{PINNED_VERSION}.jsii.tgz").is_file():
        return f"unexpected layout: no provider-aws@{PINNED_VERSION}.jsii.tgz in {package_dir / '_jsii'}"
    return None


def installed_package_dir() -> Path:
    """Where the provider package is installed (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not an installed package")
    return Path(next(iter(spec.submodule_search_locations)))


def submodule_fqns(package_dir: Path) -> dict[str, str]:
    """jsii submodule FQN -> Python module, for every generated submodule (`s3_bucket` is the
    jsii submodule `s3Bucket`: jsii-pacmak snake-cases the camel-case name)."""
    fqns = {}
    for entry in os.scandir(package_dir):
        if entry.is_dir() and not entry.name.startswith(("_", ".")):
            head, *rest = entry.name.split("_")
            camel = head + "".join(part[:1].upper() + part[1:] for part in rest)
            fqns[f"{ASSEMBLY}.{camel}"] = f"{PACKAGE}.{entry.name}"
    return fqns


def _register_lazily() -> ModuleType:
    from jsii import _reference_map  # the runtime's lazy-submodule support (jsii >= 1.1xx)

    if not hasattr(_reference_map, "_submodule_fqn_map"):
        raise RuntimeError("this jsii runtime cannot resolve lazily imported submodules")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None:  # not an assert: invariants must hold under `python -O` too
        raise RuntimeError(f"{PACKAGE} is not installed; run `make setup`")
    package = importlib.util.module_from_spec(spec)  # created, deliberately not executed
    package.__platform_lazy__ = True  # type: ignore[attr-defined]
    package_dir = installed_package_dir()
    sys.modules[PACKAGE] = package
    _reference_map._submodule_fqn_map.update(submodule_fqns(package_dir))
    jsii_module = importlib.import_module(f"{PACKAGE}._jsii")  # loads the assembly into the kernel
    for name in getattr(jsii_module, "__all__", ()):
        setattr(package, name, getattr(jsii_module, name))  # what `from ._jsii import *` did

    def lazy_attribute(name: str) -> ModuleType:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{PACKAGE}.{name}")
        except ModuleNotFoundError as exc:
            raise AttributeError(name) from exc

    setattr(package, "__getattr__", lazy_attribute)  # noqa: B010 - PEP 562 on the package module
    return package
