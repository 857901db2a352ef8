"""Where `--out` writes (checkpoint, export, bundle): checked first, its folders made on use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provenance.cli.common import err
from provenance.errors import ProvError, UsageProblem


def check_out(out: Path, example: str) -> Path:
    """`out` with `~` expanded, refused in one line if it cannot be a file prov may write.

    Checked before any work is done, so that a mistyped --out costs nothing; `example` is a
    file name to suggest when `out` is a folder. Nothing is created here (see `writing_to`).
    """
    out = out.expanduser()
    if out.is_dir():
        raise UsageProblem(f"--out {out} is a folder; name a file in it,"
                           f" e.g. --out {out / example}")
    if out.exists() and not os.access(out, os.W_OK):
        raise UsageProblem(f"--out {out}: the file exists and is not writable;"
                           " choose another --out")
    existing = _nearest_existing(out.parent)
    if not existing.is_dir():
        raise UsageProblem(f"--out {out}: {existing} is a file, not a folder;"
                           " choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageProblem(f"--out {out}: cannot write in {existing} (permission denied);"
                           " choose another --out")
    return out


@contextmanager
def writing_to(out: Path) -> Iterator[Path]:
    """Create the missing folders above `out` (saying so in one line), then let the caller
    write it. A failed write becomes one line, never an internal error, and folders made
    here are removed again if the command fails before anything is written into them."""
    made = _missing_folders(out.parent)
    try:
        if made:
            out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageProblem(f"--out {out}: cannot create folder {out.parent}"
                           f" ({exc.strerror or exc}); choose another --out") from None
    if made:
        err(f"created folder {out.parent} for --out")
    try:
        yield out
    except OSError as exc:
        _remove_empty(made)
        raise ProvError(f"--out {out}: could not write it ({exc.strerror or exc})") from None
    except BaseException:
        _remove_empty(made)
        raise


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _missing_folders(folder: Path) -> list[Path]:
    """The folders above a file that do not exist yet, outermost first."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing[::-1]


def _remove_empty(made: list[Path]) -> None:
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:  # not empty (something else wrote there): leave it
            return
