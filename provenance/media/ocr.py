"""Reading text off page pictures with Tesseract: the engine found, its version, its languages.

Why pytesseract, not tesserocr (measured on the shared 2-core machine, 3 questionnaire pages
at 300 dpi, rus+ukr+kor+eng): tesserocr (in-process, model loaded once) took 7.4 s, pytesseract
(one `tesseract` process a page) 16.0 s with OpenMP limited to one thread (29.3 s without).
tesserocr is faster, but its wheel brings its own libtesseract (5.5.4, 29 MB) instead of the
engine the investigator installed and whose version we record, and a call into it cannot be
interrupted: a page Tesseract hangs on would hang `prov add`. pytesseract runs Debian's
`tesseract` as a child process that is killed at the page's deadline (OCR_SECONDS).

Nothing here touches the database; `pytesseract` and Pillow are imported inside functions.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

ENGINE = "tesseract"
# The seed case's scripts: Russian and Ukrainian Cyrillic, Korean Hangul, Latin. The order
# is Tesseract's preference: measured on the fixture pages (fixtures/text_pages.py), with
# Cyrillic first an English heading came out in Cyrillic look-alikes (СОМУОУ for CONVOY);
# with English first every page read right.
LANGUAGES = ("eng", "rus", "ukr", "kor")
# Page segmentation "one column of text of variable sizes". The default (fully automatic)
# found no lines on a page of Korean alone at 300 dpi (output: "0건 0또 00"); psm 4 read it
# whole, and read the Russian, Ukrainian, English and questionnaire pages as well as before.
CONFIG = "--psm 4"
# Seconds Tesseract may spend on one page before it is killed and the page skipped.
OCR_SECONDS = 60.0
# Pages OCR'd per document; the rest are registered without text, with a warning.
OCR_PAGES = 50
# Seconds OCR may spend on one document in all (its pages' rendering included): a 50-page
# scan at the per-page limit would otherwise hold `prov add` for 50 minutes (a costly PDF
# without a text layer took 363 s). The pages left are registered without text, with a
# warning, and the recorded reading says how many were read and why the rest were not.
OCR_BUDGET = 120.0
# A picture larger than this (pixels) is scaled down before OCR: Tesseract's memory grows
# with the picture, and text readable at all is readable at 40 MP (a 30,000 x 30,000 picture
# is 900 MP).
OCR_PIXELS = 40_000_000

_DEBIAN = {"rus": "tesseract-ocr-rus", "ukr": "tesseract-ocr-ukr", "kor": "tesseract-ocr-kor",
           "eng": "tesseract-ocr-eng"}


@dataclass(frozen=True)
class Engine:
    """The Tesseract found on this machine, or why OCR cannot run (`problem`)."""

    version: str | None
    languages: tuple[str, ...]  # the wanted languages it has, in LANGUAGES order
    missing: tuple[str, ...]
    problem: str | None = None  # set when no OCR can run at all

    @property
    def usable(self) -> bool:
        return self.problem is None and bool(self.languages)

    def install_hint(self) -> str | None:
        """One line: what is missing and how to install it; None when nothing is."""
        if self.problem:
            return f"{self.problem}: text is not read from scans and page pictures; install " \
                   "it with `apt-get install tesseract-ocr " + \
                   " ".join(_DEBIAN[lang] for lang in LANGUAGES) + \
                   "` (macOS: `brew install tesseract tesseract-lang`), then `prov ocr ITEM`"
        if self.missing:
            return "Tesseract has no language data for " + ", ".join(self.missing) + \
                   ": text in those languages is not read; install `apt-get install " + \
                   " ".join(_DEBIAN[lang] for lang in self.missing) + "`, then `prov ocr ITEM`"
        return None


def engine() -> Engine:
    """Find Tesseract ($PROV_TESSERACT, else `tesseract` on PATH) and its language data."""
    import pytesseract

    command = os.environ.get("PROV_TESSERACT") or shutil.which("tesseract")
    if not command or not os.access(command, os.X_OK):
        return Engine(None, (), LANGUAGES, "Tesseract is not installed")
    pytesseract.pytesseract.tesseract_cmd = command
    try:
        version = str(pytesseract.get_tesseract_version())
        have = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError, RuntimeError) as exc:
        return Engine(None, (), LANGUAGES, f"Tesseract cannot run ({exc})")
    langs = tuple(lang for lang in LANGUAGES if lang in have)
    missing = tuple(lang for lang in LANGUAGES if lang not in have)
    if not langs:
        return Engine(version, (), missing, "Tesseract has none of the languages "
                      + "+".join(LANGUAGES))
    return Engine(version, langs, missing)


class _Deferred(Engine):
    """The Engine engine() finds, looked for only when something reads it: finding it runs
    `tesseract` twice (0.15-0.2 s a process), which `prov match` and `prov add` of a plain
    photo, with no page held to name, never need. Pickled (to pool workers) as what it found."""

    _FIELDS = frozenset(("version", "languages", "missing", "problem"))

    def __init__(self) -> None:  # the fields are found on first read, not given
        object.__setattr__(self, "_found", None)

    def _engine(self) -> Engine:
        found = object.__getattribute__(self, "_found")
        if found is None:
            found = engine()
            object.__setattr__(self, "_found", found)
        return found

    def __getattribute__(self, name: str) -> Any:
        if name in _Deferred._FIELDS:
            return getattr(object.__getattribute__(self, "_engine")(), name)
        return object.__getattribute__(self, name)

    def __reduce__(self) -> tuple[Any, ...]:
        return _found_engine, (self._engine(),)

    def __eq__(self, other: object) -> bool:
        return self._engine() == (other._engine() if isinstance(other, _Deferred) else other)

    def __hash__(self) -> int:
        return hash(self._engine())


def _found_engine(found: Engine) -> Engine:
    return found


def deferred() -> Engine:
    """engine(), looked for on first use (see _Deferred)."""
    return _Deferred()


@dataclass
class PageText:
    page: int
    text: str


@dataclass
class Reading:
    """What one pass of text reading over an item found: per page, by which means."""

    source: str  # "ocr" | "text-layer"
    engine: str
    engine_version: str | None
    languages: list[str]
    pages: list[PageText] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what was not read, and why

    def to_event(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "engine": self.engine,
            "engine_version": self.engine_version,
            "languages": self.languages,
            "options": CONFIG if self.source == "ocr" else None,
            "pages": [{"page": p.page, "text": p.text} for p in self.pages],
            "skipped": self.skipped,
        }


class PageTimeout(Exception):
    """Tesseract took longer than its deadline on one page (it was killed)."""


def read_picture(img: Image, eng: Engine, *, seconds: float = OCR_SECONDS,
                 max_pixels: int = OCR_PIXELS) -> str:
    """The text Tesseract reads on one picture (whitespace tidied). Raises PageTimeout."""
    import pytesseract

    img = fit(img, max_pixels)
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    # One thread per Tesseract: OpenMP's threads fight the other pages' for the cores
    # (measured: 29.3 s -> 16.0 s for three pages on two cores).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        text = pytesseract.image_to_string(img, lang="+".join(eng.languages), config=CONFIG,
                                           timeout=seconds)
    except RuntimeError as exc:  # pytesseract's timeout: the child was killed
        if "timeout" in str(exc).lower():
            raise PageTimeout(f"OCR took longer than {seconds:g} s") from None
        raise
    return tidy(text)


def fit(img: Image, max_pixels: int) -> Image:
    """The picture scaled down (aspect kept) to at most `max_pixels` pixels."""
    w, h = img.size
    if w * h <= max_pixels:
        return img
    scale = (max_pixels / (w * h)) ** 0.5
    return img.resize((max(1, int(w * scale)), max(1, int(h * scale))))


def tidy(text: str) -> str:
    """Strip trailing spaces and runs of blank lines; keep the line structure."""
    lines = [line.rstrip() for line in text.replace("\f", "").splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
