"""The local runner's record key: the checkout's content stands in for the image (ADR 0023).
A new or changed migration must change it (so it runs); caches and a virtualenv must not."""

from __future__ import annotations

from pathlib import Path

from scripts.migrate.history import checkout_fingerprint, tree_digest

CMD = ["alembic", "upgrade", "head"]


def checkout(root: Path) -> Path:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    (root / "migrations" / "versions" / "0001_create_notes.py").write_text('revision = "0001"\n')
    return root


def test_caches_and_virtualenvs_do_not_change_the_fingerprint(tmp_path: Path) -> None:
    app = checkout(tmp_path / "app")
    before = tree_digest(app)
    (app / "migrations" / "versions" / "__pycache__").mkdir()
    (app / "migrations" / "versions" / "__pycache__" / "0001_create_notes.cpython-311.pyc").write_bytes(b"\0")
    (app / ".venv" / "bin").mkdir(parents=True)
    (app / ".venv" / "bin" / "alembic").write_text("#!/bin/sh\n")
    assert tree_digest(app) == before


def test_a_new_or_changed_migration_changes_it(tmp_path: Path) -> None:
    app = checkout(tmp_path / "app")
    first = checkout_fingerprint(app, "examples/webapp", CMD)
    assert first.image == f"checkout:examples/webapp@sha256:{tree_digest(app)}"
    (app / "migrations" / "versions" / "0002_add_author.py").write_text('revision = "0002"\n')
    added = checkout_fingerprint(app, "examples/webapp", CMD)
    (app / "migrations" / "versions" / "0002_add_author.py").write_text('revision = "0002"  # fixed\n')
    changed = checkout_fingerprint(app, "examples/webapp", CMD)
    assert len({first.key(), added.key(), changed.key()}) == 3
    # the same content elsewhere (another clone) is the same migration
    assert checkout_fingerprint(checkout(tmp_path / "clone"), "examples/webapp", CMD).key() == first.key()
    # another command is another migration, as on ECS
    assert checkout_fingerprint(app, "examples/webapp", ["alembic", "upgrade", "0001"]).key() != changed.key()
