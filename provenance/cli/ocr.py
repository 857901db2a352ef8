"""`prov ocr ITEM...`, and the OCR options `prov add` shares with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance.cli.common import GLOBALS, JsonOpt, boundary, emit_json, err, say, short

if TYPE_CHECKING:
    from provenance.ingest.reading import Plan

# Defaults are media.ocr's OCR_SECONDS and OCR_PAGES (not imported: `prov --help` stays light).
OcrTimeoutOpt = Annotated[float, typer.Option(
    "--ocr-timeout", min=1.0, help="Seconds Tesseract may spend on one page before it is"
    " stopped and the page registered without text.")]
OcrPagesOpt = Annotated[int, typer.Option(
    "--ocr-pages", min=1, help="Pages OCR'd per document; later pages get no text (warned).")]
# Default: media.ocr's OCR_BUDGET.
OcrBudgetOpt = Annotated[float, typer.Option(
    "--ocr-budget", min=1.0, help="Seconds OCR may spend on one document in all; the pages"
    " left are registered without text (warned, and said in the recorded reading).")]
# Default: matching.hashing's MAX_PIXELS (Pillow's own guard).
MaxPixelsOpt = Annotated[int, typer.Option(
    "--max-pixels", min=1, help="Largest image decoded, in pixels; a larger one is registered"
    " (hashes, copy, metadata) without perceptual hashes, keypoints or text (warned).")]
MAX_PIXELS = 89_478_485


def plan(every_image: bool, seconds: float, pages: int, *, enabled: bool = True,
         budget: float | None = None, max_pixels: int | None = None) -> Plan:
    """The reading plan: the Tesseract found on this machine and the limits given."""
    from provenance.ingest.reading import Plan
    from provenance.media import ocr

    engine = ocr.deferred() if enabled else None
    limits: dict[str, Any] = {}
    if budget is not None:
        limits["budget"] = budget
    if max_pixels is not None:
        limits["decode_pixels"] = max_pixels
    return Plan(engine, every_image, seconds, pages, **limits)


@boundary
def ocr_(
    items: Annotated[list[str], typer.Argument(help="Items: SHA-256 or unique prefixes.")],
    ocr_timeout: OcrTimeoutOpt = 60.0,
    ocr_pages: OcrPagesOpt = 50,
    ocr_budget: OcrBudgetOpt = 120.0,
    max_pixels: MaxPixelsOpt = MAX_PIXELS,
    as_json: JsonOpt = False,
) -> None:
    """Read the text of held images, scans and documents with Tesseract, and record it."""
    from provenance.case.items import resolve
    from provenance.errors import ProvError
    from provenance.ingest import ocr_items

    conn = GLOBALS.open()
    shas = [resolve(conn, ref) for ref in items]
    reading = plan(True, ocr_timeout, ocr_pages, budget=ocr_budget, max_pixels=max_pixels)
    results: list[dict[str, Any]] = []
    failed = False
    for sha in shas:
        try:
            found = ocr_items.ocr_item(conn, sha, reading, by=GLOBALS.investigator)
        except ProvError as exc:
            err(f"error: {short(sha)}: {exc}")
            results.append({"sha256": sha, "error": str(exc)})
            failed = True
            continue
        for warning in found.warnings:
            err(f"warning: {short(sha)}: {warning}")
        results.append(found.to_json())
        if not as_json:
            say(f"{short(sha)}  {found.kind:<8} {len(found.pages)} page(s) read"
                + (" (recorded: ocr.recorded)" if found.recorded else " (nothing recorded)"))
            for p in found.pages:
                say(f"  page {p['page']}:")
                for line in p["text"].splitlines():
                    say(f"    {line}")
    if as_json:
        emit_json(results)
    if failed:
        raise typer.Exit(1)
