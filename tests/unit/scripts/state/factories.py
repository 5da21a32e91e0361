"""Small builders of Terraform state documents (format 4) for unit tests."""

from __future__ import annotations

import json
from typing import Any

from scripts.state.store import TerraformState, parse_state

LINEAGE = "904bb3dd-153e-2469-3547-95c28b3f3467"


def instance(
    attributes: dict[str, Any],
    sensitive: list[list[dict[str, Any]]] | None = None,
    index_key: str | int | None = None,
) -> dict[str, Any]:
    inst: dict[str, Any] = {
        "schema_version": 0,
        "attributes": attributes,
        "sensitive_attributes": sensitive or [],
    }
    if index_key is not None:
        inst["index_key"] = index_key
    return inst


def resource(
    type_: str, name: str, *instances: dict[str, Any], mode: str = "managed", module: str | None = None
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "mode": mode,
        "type": type_,
        "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": list(instances),
    }
    if module:
        res["module"] = module
    return res


def attr_path(name: str) -> list[dict[str, Any]]:
    return [{"type": "get_attr", "value": name}]


def state(
    *resources: dict[str, Any], serial: int = 1, lineage: str = LINEAGE, outputs: dict[str, Any] | None = None
) -> TerraformState:
    doc = {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": serial,
        "lineage": lineage,
        "outputs": outputs or {},
        "resources": list(resources),
        "check_results": None,
    }
    return parse_state(json.dumps(doc).encode())
