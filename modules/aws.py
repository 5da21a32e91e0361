"""The one place that imports the prebuilt hashicorp/aws 5.100.0 bindings (cdktf-cdktf-provider-aws
20.1.0). Constructs import resource modules from here, e.g. `from modules.aws import s3_bucket`.

Binding modules are imported lazily on first use: each is a large generated Python file, and a
process that synthesizes one stack should not import the ones it never touches.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_PACKAGE = "cdktf_cdktf_provider_aws"


def __getattr__(name: str) -> ModuleType:
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"{_PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        raise AttributeError(f"the AWS provider bindings have no module {name!r}") from exc
    globals()[name] = module
    return module
