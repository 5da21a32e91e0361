"""JSON Schema of the environment files and the configuration reference table, from `app.schema`.

`python -m app.reference` rewrites `app/environment.schema.json` (point a TOML language server at
it, e.g. `#:schema ./environment.schema.json` or taplo's `schema.path`) and the table between the
markers in docs/configuration.md (the configuration reference the README links to);
tests/unit/app/test_config_reference.py fails when either is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.schema import EnvironmentConfig

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "app" / "environment.schema.json"
REFERENCE_DOC = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED CONFIGURATION REFERENCE (python -m app.reference) -->"
END = "<!-- END GENERATED CONFIGURATION REFERENCE -->"
# Where a tier resolves a `None` default (app/config.py resolve_tier_defaults) or a rule applies.
SAFETY_NOTE = "prod: safety rule"


def json_schema() -> dict[str, Any]:
    schema = EnvironmentConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Platform environment file (app/environments/<env>.toml)"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(table)"
        return f"`{json.dumps(value)}`"
    if field.default is None:
        return "none"
    return f"`{json.dumps(field.default)}`"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str]]:
    from app.safety import SAFETY_RULES

    safety = {r.field for r in SAFETY_RULES}
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        path = f"{prefix}{name}"
        inner = _model_of(field.annotation)
        is_map = getattr(field.annotation, "__origin__", None) is dict and inner is not None
        doc = " ".join((field.description or "").split())
        if path in safety or path.replace("services.<name>", "services.*") in safety:
            doc += f" ({SAFETY_NOTE})"
        if inner is None:
            rows.append((f"`{path}`", _default(field), doc))
            continue
        sub = f"{path}.<name>." if is_map else f"{path}."
        rows.append((f"`[{path}{'.<name>' if is_map else ''}]`", "", doc))
        rows += _rows(inner, sub)
    return rows


def markdown_table() -> str:
    lines = ["| field | default | description |", "|---|---|---|"]
    for path, default, doc in _rows(EnvironmentConfig, ""):
        lines.append(f"| {path} | {default} | {doc.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def document_with_table(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + markdown_table() + text[end:]


def main() -> int:
    SCHEMA_FILE.write_text(schema_text())
    REFERENCE_DOC.write_text(document_with_table(REFERENCE_DOC.read_text()))
    print(f"wrote {SCHEMA_FILE.relative_to(ROOT)} and the table in {REFERENCE_DOC.relative_to(ROOT)}")  # CLI output
    return 0


if __name__ == "__main__":
    sys.exit(main())
