"""The migration runs with one image, the owner's (docs/adr/0026): which image the synthesized
migration task definition carries when the web and worker images differ."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import DEFAULT_CONFIG_DIR, parse_environment

LOCAL = tomllib.loads((DEFAULT_CONFIG_DIR / "local.toml").read_text())
WEB_IMAGE, WORKER_IMAGE = "registry.example/shop:web-7", "registry.example/shop:worker-8"


def migration_image(tmp_path: Path, image_from: str | None) -> str:
    from app.main import build_app

    data: dict[str, Any] = copy.deepcopy(LOCAL)
    data["services"]["app"]["image"] = WEB_IMAGE
    data["services"]["worker"]["image"] = WORKER_IMAGE
    if image_from is not None:
        data["migration"]["image_from"] = image_from
    env = parse_environment(data, "local.toml", "local")
    build_app([env], str(tmp_path)).synth()
    stack = json.loads((tmp_path / "stacks" / "local-service" / "cdk.tf.json").read_text())
    images = {}
    for td in stack["resource"]["aws_ecs_task_definition"].values():
        (cdef,) = json.loads(td["container_definitions"])
        images[td["family"]] = cdef["image"]
    assert images["local-app"] == WEB_IMAGE and images["local-worker"] == WORKER_IMAGE
    return images["local-migrate"]


@pytest.mark.parametrize(("image_from", "expected"), [(None, WEB_IMAGE), ("app", WEB_IMAGE), ("worker", WORKER_IMAGE)])
def test_the_migration_task_runs_the_image_of_its_owner(tmp_path: Path, image_from: str | None, expected: str) -> None:
    assert migration_image(tmp_path, image_from) == expected
