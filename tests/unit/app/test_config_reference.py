"""The generated JSON Schema and the configuration table of docs/configuration.md match `app/schema.py`."""

from __future__ import annotations

import json

from app import reference


def test_json_schema_file_is_current() -> None:
    assert reference.SCHEMA_FILE.read_text() == reference.schema_text(), "run `python -m app.reference`"


def test_configuration_reference_table_is_current() -> None:
    text = reference.REFERENCE_DOC.read_text()
    assert reference.document_with_table(text) == text, "run `python -m app.reference`"


def test_the_table_lives_only_in_the_configuration_guide() -> None:
    """One generated copy: docs/configuration.md, linked from the README (not a second table)."""
    assert reference.REFERENCE_DOC == reference.ROOT / "docs" / "configuration.md"
    readme = (reference.ROOT / "README.md").read_text()
    assert reference.BEGIN not in readme and "docs/configuration.md" in readme


def test_schema_describes_services_and_forbids_unknown_fields() -> None:
    schema = json.loads(reference.SCHEMA_FILE.read_text())
    assert schema["additionalProperties"] is False
    service = schema["$defs"]["ServiceConfig"]
    assert service["properties"]["kind"]["enum"] == ["web", "worker", "job"]
    assert service["required"] == ["image"] and service["additionalProperties"] is False
    assert schema["properties"]["services"]["additionalProperties"] == {"$ref": "#/$defs/ServiceConfig"}
    assert "source" not in schema["properties"]  # set by the loader, not part of the file


def test_every_field_is_documented() -> None:
    rows = reference.markdown_table().splitlines()[2:]
    undocumented = [r for r in rows if r.rstrip(" |").endswith("|")]
    assert undocumented == []


def test_construct_settings_are_bound_directly_with_one_default() -> None:
    """`[database]` and `[services.*.autoscaling]` are the constructs' own settings models."""
    from app.schema import AutoscalingConfig, DatabaseConfig
    from modules.fargate_service import FargateServiceProps
    from modules.postgres import PostgresProps
    from modules.settings import Autoscaling, PostgresSettings

    assert DatabaseConfig is PostgresSettings and AutoscalingConfig is Autoscaling
    props = {f.name for f in __import__("dataclasses").fields(PostgresProps)}
    assert not props & set(PostgresSettings.model_fields)  # no second declaration in the props
    assert "autoscaling" in {f.name for f in __import__("dataclasses").fields(FargateServiceProps)}


def test_loading_environments_needs_no_cdktf() -> None:
    """The operational tools load environment files when Node/jsii is broken (state recovery)."""
    import subprocess
    import sys

    code = "import sys, app.config; app.config.load_all(); print('cdktf' in sys.modules or 'jsii' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=reference.ROOT).stdout  # fmt: skip
    assert out.strip() == "False"
