"""Reading the text of an item's pages at registration or later: text layers, then OCR.

What is read, by what: a PDF page's text layer is read directly (PDFium); a scan's pages, a
document page without a text layer and an image of kind `scan` are OCR'd (Tesseract); any
other image, or every page, only when asked (`prov add --ocr`, `prov ocr`). Each reading is
one event payload (`text_layer.read`, `ocr.recorded`), recorded with the item.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

from provenance.errors import BadInput
from provenance.matching import hashing
from provenance.media import document, ocr, pdfrender

# Pages whose text layer is read; the rest of a longer document is registered without it.
TEXT_PAGES = 5000
# A page whose text layer has fewer letters than this is treated as having none (a scan
# often carries a page number or a scanner's stamp as text, not its content).
MIN_LAYER_LETTERS = 20
# Pages are OCR'd at this long side in pixels: A4 at 300 dpi, Tesseract's preferred size.
OCR_SIDE = 2480


@dataclass(frozen=True)
class Plan:
    """What to read at registration, with the limits (picklable: sent to pool workers)."""

    engine: ocr.Engine | None  # None: OCR off
    every_image: bool = False  # --ocr: OCR images of every kind and every document page
    seconds: float = ocr.OCR_SECONDS
    pages: int = ocr.OCR_PAGES
    max_pixels: int = ocr.OCR_PIXELS
    # --max-pixels: a larger image file is not decoded at all, for hashes or for OCR (a
    # 30,000 x 30,000 PNG is 2.7 GB of pixels); it is registered with a warning.
    decode_pixels: int = hashing.MAX_PIXELS
    budget: float = ocr.OCR_BUDGET  # --ocr-budget: seconds of OCR per document in all
    # OCR the sheet a plain photo shows, to name the page it photographs: off when no page
    # text is held or arriving to name (ingest/sheets.py).
    sheets: bool = True


@dataclass
class Readings:
    events: list[dict[str, Any]] = field(default_factory=list)  # (type, payload) as dicts
    warnings: list[str] = field(default_factory=list)
    engine_missing: bool = False  # OCR was due but no engine could run


def wants_ocr(plan: Plan | None, kind: str) -> bool:
    return plan is not None and (kind == "scan" or plan.every_image)


def read_image(data: bytes, kind: str, plan: Plan | None, name: str) -> Readings:
    """OCR of an image file (page 1), when its kind or the plan asks for it, or of the sheet
    in a photo of a printed page (flattened first: matching/pages.py), to name that page."""
    out = Readings()
    if plan is None:
        return out
    if not wants_ocr(plan, kind):
        if kind == "image" and plan.sheets and plan.engine is not None and plan.engine.usable:
            return _read_sheet(data, plan)
        return out
    if plan.engine is None or not plan.engine.usable:
        out.engine_missing = True
        return out
    from PIL import Image

    try:
        with hashing.pixel_guard(None), Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
            if w * h > plan.decode_pixels:
                out.warnings.append(f"text not read: the image is {w} x {h} pixels, over the"
                                    f" {plan.decode_pixels:,}-pixel decoding limit"
                                    " (--max-pixels)")
                return out
            probe.draft("RGB", (w, h))
            img = probe.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        out.warnings.append(f"text not read: the image cannot be decoded for OCR ({exc})")
        return out
    reading = _ocr_reading(plan.engine)
    _read_page(reading, 1, img, plan, out)
    if reading.pages or reading.skipped:
        out.events.append({"type": "ocr.recorded", "data": reading.to_event()})
    return out


def read_document(path: str, kind: str, page_count: int | None, plan: Plan | None,
                  *, force_ocr: bool = False) -> Readings:
    """Text layers of a PDF's pages, then OCR of the pages that need it (see the module)."""
    out = Readings()
    layers: dict[int, str] = {}
    try:
        found = pdfrender.text_layers(path, max_pages=TEXT_PAGES)
    except BadInput as exc:
        out.warnings.append(f"text layer not read: {exc.reason}")
        found = []
    if page_count and page_count > TEXT_PAGES:
        out.warnings.append(f"text layers read on the first {TEXT_PAGES} of {page_count} pages")
    layers = {n: ocr.tidy(t) for n, t in found}
    with_text = [(n, t) for n, t in layers.items() if _letters(t) >= MIN_LAYER_LETTERS]
    if with_text:
        out.events.append({"type": "text_layer.read", "data": ocr.Reading(
            "text-layer", pdfrender.ENGINE, pdfrender.version(), [],
            [ocr.PageText(n, t) for n, t in with_text]).to_event()})
    if plan is None:
        return out
    every = kind == "scan" or plan.every_image or force_ocr
    total = page_count or len(layers)
    due = [n for n in range(1, total + 1)
           if every or _letters(layers.get(n, "")) < MIN_LAYER_LETTERS]
    if not due:
        return out
    if plan.engine is None or not plan.engine.usable:
        out.engine_missing = True
        return out
    chosen = due[: plan.pages]
    reading = _ocr_reading(plan.engine)
    if len(due) > len(chosen):
        reading.skipped.append(f"pages {chosen[-1] + 1}-{due[-1]}: over the limit of"
                               f" {plan.pages} OCR'd pages")
        out.warnings.append(f"OCR'd {len(chosen)} of {len(due)} pages that need it"
                            f" (limit {plan.pages}; --ocr-pages raises it)")
    # The render budget counts the OCR between pages too (pages are rendered as they are
    # read), so the OCR time the pages chosen may take is added to it.
    budget = document.RENDER_SECONDS + min(plan.budget, plan.seconds * len(chosen))
    started = time.monotonic()
    tried, ran_out = 0, False
    try:
        for number, img in document.render_pages(path, max_side=OCR_SIDE, seconds=budget,
                                                 only=frozenset(chosen)):
            left = plan.budget - (time.monotonic() - started)
            ran_out = left <= 0
            if ran_out:
                break
            tried += 1
            ran_out = not _read_page(reading, number, img, plan, out, budget_left=left)
            if ran_out:
                break
    except BadInput as exc:  # RenderBudget included: pages read so far are kept
        why = exc.reason.split(";")[0]
        reading.skipped.append(f"stopped after {len(reading.pages)} page(s): {why}")
        out.warnings.append(f"OCR stopped after {len(reading.pages)} page(s): {why}")
    if ran_out:
        _over_budget(reading, chosen, tried, plan, out)
    if reading.pages or reading.skipped:
        out.events.append({"type": "ocr.recorded", "data": reading.to_event()})
    return out


def _read_sheet(data: bytes, plan: Plan) -> Readings:
    """OCR of the page a photo shows, if it shows one (recorded with how it was read)."""
    from provenance.matching import pages

    out = Readings()
    sheet = _sheet(data, plan)
    if sheet is None:
        return out
    assert plan.engine is not None
    reading = _ocr_reading(plan.engine)
    _read_page(reading, 1, sheet, plan, out)
    how = SHEET
    first = _readable_words(reading)
    if not reading.skipped and first < pages.SECOND_PASS_WORDS:
        # Too few words read: on a sparse page (three lines) Tesseract's layout analysis
        # often takes the page for a picture (a shadow's soft edge, grey paper) and reads
        # nothing. The same sheet made black and white by a local threshold is read again,
        # and the reading with more words kept; the options say which.
        second = _ocr_reading(plan.engine)
        _read_page(second, 1, pages.binarized(sheet), plan, out)
        if not second.skipped and _readable_words(second) > first:
            reading = second
            how = f"{SHEET}, then {pages.BINARIZED} (the first reading found {first} words)"
    # Recorded however little was read: a sheet whose words cannot be read is one whose page
    # link by pixels alone is not confirmed (ingest/pagematch.py).
    if reading.pages or reading.skipped:
        event = reading.to_event()
        event["options"] = f"{event['options']}; {how}"
        out.events.append({"type": "ocr.recorded", "data": event})
    return out


def read_twice(event: dict[str, Any]) -> bool:
    """Was this sheet reading (an `ocr.recorded` payload of `_read_sheet`) made in black and
    white already? `_read_sheet` reads a sheet again when the first reading has fewer than
    `SECOND_PASS_WORDS` readable words, and says so in the options when it keeps the second."""
    from provenance.matching import pages

    if pages.BINARIZED in event["options"] or event["skipped"]:
        return True
    return event_words(event) < pages.SECOND_PASS_WORDS


def event_words(event: dict[str, Any]) -> int:
    """How many readable words an `ocr.recorded` payload holds, over all its pages."""
    from provenance.matching import pages

    return sum(len(pages.readable_words(p["text"])) for p in event["pages"])


def is_sheet_reading(event: dict[str, Any]) -> bool:
    return SHEET in str(event.get("options", ""))


def sheet_in_black_and_white(data: bytes, plan: Plan) -> dict[str, Any] | None:
    """The sheet a photo shows read again, made black and white: an `ocr.recorded` payload
    (options not yet saying why), or None when no sheet is found or nothing could be read.
    Called for a sheet whose first reading named no page (ingest/pagematch.py)."""
    from provenance.matching import pages

    if plan.engine is None or not plan.engine.usable:
        return None
    sheet = _sheet(data, plan)
    if sheet is None:
        return None
    second = _ocr_reading(plan.engine)
    _read_page(second, 1, pages.binarized(sheet), plan, Readings())
    if second.skipped or not second.pages:
        return None
    return second.to_event()


def _sheet(data: bytes, plan: Plan) -> Any:
    """The sheet of paper the photo shows, flattened and evenly lit, or None (no sheet, too
    many pixels, or an image that does not decode: its own decoding reports why)."""
    from PIL import Image

    from provenance.matching import pages

    try:
        with hashing.pixel_guard(None), Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
            if w * h > plan.decode_pixels:
                return None
            probe.draft("RGB", (min(w, 3000), min(h, 3000)))
            img = probe.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return pages.rectify(img)


def _readable_words(reading: ocr.Reading) -> int:
    from provenance.matching import pages

    return sum(len(pages.readable_words(p.text)) for p in reading.pages)


# How the text of a photographed page was read, as the event records it.
SHEET = "the sheet found in the photo, flattened and evenly lit (matching/pages.py)"


def _ocr_reading(engine: ocr.Engine) -> ocr.Reading:
    return ocr.Reading("ocr", ocr.ENGINE, engine.version, list(engine.languages))


def _read_page(reading: ocr.Reading, number: int, img: Any, plan: Plan, out: Readings,
               *, budget_left: float | None = None) -> bool:
    """OCR one page into the reading; False when the document's OCR budget ran out on it
    (the caller then says so, for this page and those after it)."""
    assert plan.engine is not None
    capped = budget_left is not None and budget_left < plan.seconds
    seconds = budget_left if capped and budget_left is not None else plan.seconds
    try:
        text = ocr.read_picture(img, plan.engine, seconds=seconds, max_pixels=plan.max_pixels)
    except ocr.PageTimeout as exc:
        if capped:
            return False
        reading.skipped.append(f"page {number}: {exc}")
        out.warnings.append(f"text not read on page {number}: {exc} (--ocr-timeout raises it)")
        return True
    except (RuntimeError, OSError) as exc:
        reading.skipped.append(f"page {number}: Tesseract failed ({exc})")
        out.warnings.append(f"text not read on page {number}: Tesseract failed ({exc})")
        return True
    reading.pages.append(ocr.PageText(number, text))
    return True


def _over_budget(reading: ocr.Reading, chosen: list[int], tried: int, plan: Plan,
                 out: Readings) -> None:
    """Say which chosen pages the document's OCR budget left unread, if any: page `tried`
    was cut short when it is not among the pages read."""
    done = {p.page for p in reading.pages}
    left = [n for n in chosen[max(tried - 1, 0):] if n not in done
            and not any(s.startswith(f"page {n}:") for s in reading.skipped)]
    if not left:
        return
    pages = f"page {left[0]}" if len(left) == 1 else f"{len(left)} pages ({left[0]}-{left[-1]})"
    why = f"the OCR budget of {plan.budget:g} s per document ran out"
    reading.skipped.append(f"{pages}: {why} after {len(reading.pages)} page(s) read")
    out.warnings.append(f"{why}: {len(reading.pages)} of {len(chosen)} page(s) read, {pages}"
                        " registered without text (--ocr-budget raises it)")


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)
