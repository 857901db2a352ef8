"""The SQL the browsing layer adds to every database: full-text search and views."""

from __future__ import annotations

from importlib import resources


def sql(name: str) -> str:
    """A migration script shipped beside this module (fts.sql, views.sql)."""
    return resources.files("provenance.serve").joinpath(name).read_text(encoding="utf-8")
