"""The generated JSON Schema and README configuration table match `app/schema.py`."""

from __future__ import annotations

import json

from app import reference


def test_json_schema_file_is_current() -> None:
    assert reference.SCHEMA_FILE.read_text() == reference.schema_text(), "run `python -m app.reference`"


def test_readme_configuration_table_is_current() -> None:
    text = reference.README.read_text()
    assert reference.readme_with_table(text) == text, "run `python -m app.reference`"


def test_schema_describes_services_and_forbids_unknown_fields() -> None:
    schema = json.loads(reference.SCHEMA_FILE.read_text())
    assert schema["additionalProperties"] is False
    service = schema["$defs"]["ServiceConfig"]
    assert service["properties"]["kind"]["enum"] == ["web", "worker"]
    assert service["required"] == ["image"] and service["additionalProperties"] is False
    assert schema["properties"]["services"]["additionalProperties"] == {"$ref": "#/$defs/ServiceConfig"}
    assert "source" not in schema["properties"]  # set by the loader, not part of the file


def test_every_field_is_documented() -> None:
    rows = reference.markdown_table().splitlines()[2:]
    undocumented = [r for r in rows if r.rstrip(" |").endswith("|")]
    assert undocumented == []
