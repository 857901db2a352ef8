"""What every CLI module shares: global options, the one error boundary, output helpers."""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import sqlite3
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from provenance.errors import ProvError
from provenance.report.printable import printable

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Globals:
    db: str | None = None
    by: str | None = None
    # Set by a command that only read and printed: `main` may then end the process without
    # the interpreter's teardown (see quick_exit).
    done_reading: bool = False

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

    def open(self, *, create: bool = False, write: bool = True) -> sqlite3.Connection:
        """The database; `write=False` for a command that only reads (read-only media)."""
        from provenance.ledger.db import open_db

        return open_db(self.db, create=create, write=write)


GLOBALS = Globals()


def say(line: str) -> None:
    """One line of human-readable output on stdout. Whatever it quotes (a file name, a note)
    is escaped onto it: a newline, a terminal escape or a bidi override in evidence cannot
    forge a line of prov's output or disguise one."""
    typer.echo(printable(line))


def err(message: str) -> None:
    """One line on stderr, escaped as `say` escapes it."""
    typer.echo(printable(message), err=True)


def err_lines(message: str) -> None:
    """A message whose own line breaks are its layout (a list of candidates): each line
    escaped on its own."""
    for line in message.split("\n"):
        err(line)


# Characters JSON (ensure_ascii=False) lets through raw that a terminal acts on: DEL, C1
# controls, line separators, bidi controls. Written as \u escapes, the document decodes to
# exactly the same strings. (C0 controls JSON escapes itself; its own newlines are layout.)
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def emit_json(value: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    typer.echo(_JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def boundary(fn: Callable[P, R]) -> Callable[P, R]:
    """The one place domain errors become one line on stderr and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _warning_line
                return fn(*args, **kwargs)
        except ProvError as exc:
            err_lines(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.OperationalError as exc:
            ro = " (read-only: the database cannot be written here)" if "readonly" in str(
                exc) else ""
            err(f"error: database: {exc}{ro}")
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


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A library's warning (one no file's analysis caught) as one line, without the library's
    source line: `warning: UserWarning: ...`."""
    err(f"warning: {category.__name__}: {message}")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def quick_exit(code: int) -> None:
    """End the process now: output flushed, the interpreter's teardown skipped.

    Unloading numpy, OpenCV, Pillow and Typer module by module costs a one-shot `prov match`
    30-60 ms after its answer is printed. Only for commands that wrote nothing but stdout and
    stderr (GLOBALS.done_reading): os._exit runs no atexit handler and no finaliser, so
    nothing buffered elsewhere may depend on them.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader went away; nothing more to say to it
            pass
    os._exit(code)


def short(sha: str | None) -> str:
    return (sha or "")[:12]


def is_tty() -> bool:
    return sys.stderr.isatty()


def evidence_line(m: dict[str, Any]) -> str:
    """How a match was made, in a few words: the algorithm, its distance, where."""
    if m["algorithm"] == "orb":
        text = f"{m['distance']:g} keypoints agree on one geometry"
    elif m["algorithm"] == "audio":
        text = f"{m['distance']:g} sound landmarks agree on one time offset"
    else:
        text = f"{m['algorithm']} distance {m['distance']:g}"
    # `prov dupes` relations carry their detail inline.
    shares = m.get("detail") or m
    covers = shares.get("covers_seconds")
    if covers:
        # A video against a video: which stretch of the held one the match spans.
        from provenance.matching.relations import coverage_phrase

        text += ", " + coverage_phrase(shares, m["algorithm"], "it")
        unit = "sound" if m["algorithm"] == "audio" else "frames"
        if "query_share" in shares:
            text += (f" ({shares['query_share']:.0%} of this one's {unit},"
                     f" {shares['candidate_share']:.0%} of its)")
    elif m.get("frame_seconds") is not None:
        text += f", at {m['frame_seconds']:g} s"
    if m.get("page") is not None:
        text += f", page {m['page']}"
    return text


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]
ItemArg = Annotated[str, typer.Argument(
    help="SHA-256, a unique prefix (6+ hex digits) or a name (`prov name`).")]


def signing_key(given: Path | None) -> Path | None:
    """--key, else $PROV_SIGNING_KEY, else none (unsigned)."""
    if given is not None:
        return given
    env = os.environ.get("PROV_SIGNING_KEY")
    return Path(env) if env else None
