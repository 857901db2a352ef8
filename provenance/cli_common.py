"""What every CLI module shares: global options, the one error boundary, output helpers."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import typer

from .errors import ProvError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Globals:
    db: str | None = None
    by: str | None = None

    @property
    def investigator(self) -> str:
        """--by, else $PROV_INVESTIGATOR, else the OS user."""
        if self.by:
            return self.by
        env = os.environ.get("PROV_INVESTIGATOR")
        if env:
            return env
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    def open(self, *, create: bool = False) -> sqlite3.Connection:
        from .store import open_db

        return open_db(self.db, create=create)


GLOBALS = Globals()


def err(message: str) -> None:
    typer.echo(message, err=True)


def emit_json(value: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def boundary(fn: Callable[P, R]) -> Callable[P, R]:
    """The one place domain errors become one line on stderr and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ProvError as exc:
            err(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.OperationalError as exc:
            err(f"error: database: {exc}")
            raise typer.Exit(1) from None
        except BrokenPipeError:
            # The reader went away (`prov list | head`): stop quietly, as Unix tools do.
            _silence_stdout()
            raise typer.Exit(0) from None
        except (typer.Exit, typer.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - no traceback may reach a user
            if os.environ.get("PROV_DEBUG"):
                raise
            err(
                f"internal error: {type(exc).__name__}: {exc} "
                "(a bug in prov; set PROV_DEBUG=1 for the traceback and report it)"
            )
            raise typer.Exit(70) from None

    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def short(sha: str | None) -> str:
    return (sha or "")[:12]


def is_tty() -> bool:
    return sys.stderr.isatty()
