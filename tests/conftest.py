"""Shared fixtures: a fresh database on disk and an in-process CLI runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provenance.cli import app

# The matching tests' photos and gallery (tests/pictures.py), as fixtures for every module.
pytest_plugins = ["tests.pictures"]


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    monkeypatch.delenv("PROV_DB", raising=False)
    monkeypatch.delenv("PROV_SIGNING_KEY", raising=False)
    monkeypatch.setenv("PROV_INVESTIGATOR", "tester")
    monkeypatch.setenv("PROV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "prov-cache"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "evidence.db"
    result = CliRunner().invoke(app, ["--db", str(path), "init"])
    assert result.exit_code == 0, result.output
    return path


def invoke(db: Path | str | None, *args: str, by: str | None = None,
           input: str | None = None, check: bool = False) -> Run:
    """Run `prov [--db DB] [--by BY] ARGS...` in-process; stdout and stderr kept apart.

    Anything raised that is not SystemExit is re-raised, so a traceback that would reach
    a user fails the test. With `check`, a non-zero exit status fails it too.
    """
    head = ["--db", str(db)] if db is not None else []
    if by is not None:
        head += ["--by", by]
    result = CliRunner().invoke(app, [*head, *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    run = Run(result.exit_code, result.stdout, result.stderr)
    if check:
        assert run.exit_code == 0, f"prov {' '.join(args)}: {run.stdout}{run.stderr}"
    return run


@pytest.fixture
def prov(db: Path) -> Callable[..., Run]:
    """Run `prov --db <db> ARGS...` in-process; stdout and stderr kept apart."""

    def run(*args: str, input: str | None = None) -> Run:
        return invoke(db, *args, input=input)

    return run
