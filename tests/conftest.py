"""Shared fixtures: a fresh database on disk and an in-process CLI runner."""

from __future__ import annotations

import json
import os
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

    @property
    def output(self) -> str:
        """Both streams, for assertion messages."""
        return self.stdout + self.stderr


def prov_cache(factory: pytest.TempPathFactory) -> Path:
    """Where the tests keep prov's cache (the offline gazetteer, built once per run): the
    run's temporary folder, shared by pytest-xdist's workers (the build is locked, so the
    second worker waits for the first one's instead of building its own)."""
    base = factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "prov-cache"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    monkeypatch.delenv("PROV_DB", raising=False)
    monkeypatch.delenv("PROV_SIGNING_KEY", raising=False)
    monkeypatch.delenv("PROV_VERIFY_WORKER", raising=False)
    monkeypatch.setenv("PROV_INVESTIGATOR", "tester")
    monkeypatch.setenv("PROV_CACHE_DIR", str(prov_cache(tmp_path_factory)))
    # `prov capture` leaves its deferred analysis for `prov analyse` (no background process
    # outliving a test); tests of the other modes pass --analyse.
    monkeypatch.setenv("PROV_ANALYSE", "later")


@pytest.fixture(params=["inline", "worker"])
def verify_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A full verify's chain checked inline and, again, by the worker process of
    ledger/chainworker.py, whatever the log's length and the machine's load (its thresholds
    set to 0 or out of reach: the same code as for a log above or below them). Used by the
    verify tests."""
    from provenance.ledger import chainworker

    worker = request.param == "worker"
    monkeypatch.setattr(chainworker, "WORKER_ABOVE", 0 if worker else 2**62)
    monkeypatch.setattr(chainworker, "WORKER_LOAD_BELOW", float("inf"))  # however busy
    return str(request.param)


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


@pytest.fixture(scope="session")
def served_case(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The small case of tests/servecase.py, built once per run for the export, serve and
    item-page tests, which only read it."""
    from tests.servecase import build

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROV_INVESTIGATOR", "tester")
        mp.setenv("PROV_CACHE_DIR", str(prov_cache(tmp_path_factory)))
        return build(tmp_path_factory.mktemp("served-case"))


@pytest.fixture
def photo_item(prov: Callable[..., Run], tmp_path: Path) -> Callable[..., str]:
    """Register a JPEG photo with the given EXIF (fixtures.media.jpeg_with_exif) and return
    its SHA-256: `photo_item(seed=7, gps=media.SERGEEVKA, captured=..., offset=...)`."""
    from fixtures import media

    def make(seed: int = 7, name: str = "arrival.jpg", **exif: Any) -> str:
        photo = tmp_path / name
        photo.write_bytes(media.jpeg_with_exif(seed, **exif))
        return str(prov("add", str(photo), "--json").json()[0]["sha256"])

    return make


@pytest.fixture
def prov(db: Path) -> Callable[..., Run]:
    """Run `prov --db <db> ARGS...` in-process; stdout and stderr kept apart."""

    def run(*args: str, input: str | None = None) -> Run:
        return invoke(db, *args, input=input)

    return run
