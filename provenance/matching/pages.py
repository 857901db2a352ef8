"""Photographed pages: finding the sheet in a phone photo, and naming its page by its text.

A phone photo of a printed page (tilted, in perspective, on a desk, a thumb on it) is too far
from the page's render for hashes, and a form's pages share too much layout for keypoints:
two filled-in copies of one blank form look alike and differ only in what was written in.
So a page is named by what it says. `rectify` finds the sheet (the largest bright, unsaturated
quadrilateral), warps it flat and evens its lighting, for OCR; `find_pages` compares the text
read there with the text held for every page (page_text) and names the page whose words the
photo shows, and which shows no words that page lacks (`agreement`, thresholds below).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

# The sheet must cover this share of the photo, no more than MAX_AREA of it (an image that is
# all page, a screenshot or a scan, is not a photo of a sheet: it is OCR'd only when asked,
# `prov add --ocr`, `prov ocr`), and its sides this ratio (A4 is 1.414, US
# letter 1.294; seen in perspective a sheet looks up to ~30% longer or shorter: 3 of 25
# bench photos fell outside 1.15-1.75, and an A4 sheet on a held-out photo looked 1.03:1, so
# no lower bound is kept): a photo of a wall or a sky is not taken for a page.
MIN_AREA = 0.15
MAX_AREA = 0.9
ASPECT = (1.0, 2.0)
# A page is named when the photo shows at least RECALL of its words and at most EXTRA of the
# photo's readable words are missing from it. Two filled-in copies of the bench's form
# (bench/pages.py) differ in 8-10 of ~35 words: measured on 8 photos, the copy photographed
# scored recall >= 0.91 and extra <= 0.06, every other copy recall <= 0.79 and extra >= 0.24:
# EXTRA tells them apart; RECALL is lower than that, for small print read less well.
# Measured again on 18 copies (one photo each): own copy recall >= 0.87, extra <= 0.13; two
# photos fitted another copy too (recall 0.87, extra 0.13 and 0.15), and were named right only
# by MARGIN (their own copy scored 1.0). Do not raise EXTRA.
RECALL = 0.7
EXTRA = 0.15
# ...and beats every other held page it fits by this much recall.
MARGIN = 0.05
# Words a page must have to be named by text at all: a page with a heading alone is not
# told from its neighbours by it.
MIN_WORDS = 8

_WORD = re.compile(r"\w+", re.UNICODE)
# A sheet on which OCR read fewer readable words than this is read a second time, binarized
# (ingest/reading.py). Measured on the bench's photos: the pages of three lines that were
# missed had 0-10 words read; a form or a questionnaire page read well has 25-45.
SECOND_PASS_WORDS = 20
# Ruled lines are looked for among pixels darker than this (of 255, on the evened sheet).
RULE_INK = 200
# How `binarized` prepares a sheet, as the OCR event records it.
BINARIZED = "binarized by a local (adaptive Gaussian, 31 px, C 15) threshold"


_HANGUL_GAP = re.compile(r"(?<=[\uac00-\ud7af])\s+(?=[\uac00-\ud7af])")
_HANGUL_RUN = re.compile(r"[\uac00-\ud7af]+")


def words(text: str) -> set[str]:
    """The page's words for comparison: lower-cased, two characters or more, or a number.

    Korean is compared by syllable pairs across its spaces: Tesseract spaces Hangul unevenly
    (항목을 came out 항 목 을 on a photographed page), so its words cannot be relied on.
    """
    text = _HANGUL_GAP.sub("", text)
    out: set[str] = set()
    for m in _WORD.finditer(text):
        w = m.group(0).lower()
        if len(w) < 2 or w.startswith("_"):
            continue
        if _HANGUL_RUN.fullmatch(w):
            out.update(w[i:i + 2] for i in range(len(w) - 1))
        else:
            out.add(w)
    return out


def _found(word: str, among: set[str]) -> bool:
    """The word is among the others, or (a word of 4+ letters) one OCR misread by a letter:
    размерь for размеры. Numbers must be exact: 55107 is not 55108."""
    if word in among:
        return True
    if word.isdigit() or len(word) < 4:
        return False
    from difflib import SequenceMatcher

    return any(abs(len(o) - len(word)) <= 2 and SequenceMatcher(None, word, o).ratio() >= 0.8
               for o in among)


def readable_words(text: str) -> set[str]:
    """The words of `text` OCR read as words (see `readable`)."""
    return {w for w in words(text) if readable(w)}


def readable(word: str) -> bool:
    """A word OCR read as a word (one script, letters or digits), not as noise."""
    if word.isdigit():
        return True
    if not word.isalpha():
        return False
    scripts = {_script(ch) for ch in word}
    if scripts == {"latin"} and len(word) >= 3 and not set(word) & set("aeiouy"):
        return False  # bsb, sss: a grid's or a shadow's edge read as letters
    return len(scripts) == 1


def _script(ch: str) -> str:
    code = ord(ch)
    if 0x0400 <= code <= 0x04FF:
        return "cyrillic"
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if code < 0x0250:
        return "latin"
    return "other"


@dataclass(frozen=True)
class Agreement:
    recall: float  # share of the held page's words the photo shows
    extra: float  # share of the photo's readable words the held page lacks
    shared: int

    @property
    def same_page(self) -> bool:
        return self.recall >= RECALL and self.extra <= EXTRA

    def to_json(self) -> dict[str, Any]:
        return {"text_recall": round(self.recall, 3), "text_extra": round(self.extra, 3),
                "shared_words": self.shared}


def agreement(photo_text: str, page_text: str) -> Agreement | None:
    """How the words read on the photo agree with a held page's; None if either has too few."""
    held = {_folded(w) for w in words(page_text)}
    seen = {_folded(w) for w in readable_words(photo_text)}
    if len(held) < MIN_WORDS or len(seen) < MIN_WORDS // 2:
        return None
    shared = {w for w in held if _found(w, seen)}
    # A number the page prints with a hyphen or a dot inside (52-2, 12.03) that OCR read
    # without it (522) is the page's, not an extra word; it does not count as read either.
    joined = held | {a + b for a, b in _JOINED.findall(page_text)}
    extra = {w for w in seen if not _found(w, joined)}
    return Agreement(len(shared) / len(held), len(extra) / len(seen), len(shared))


_JOINED = re.compile(r"(?<![\d])(\d+)[-./](\d+)(?![\d])")
# Cyrillic letters that look like Latin ones, compared as one: OCR reads a Cyrillic heading
# in Latin letters when the shapes allow (АНКЕТА came out AHKETA on a photographed page).
_LOOKALIKE = str.maketrans("авекмнорстухі", "abekmhopctyxi")


def _folded(word: str) -> str:
    return word.translate(_LOOKALIKE)


def find_pages(conn: sqlite3.Connection, photo_text: str, *, exclude: str | None = None,
               limit: int = 30) -> list[tuple[str, int, Agreement]]:
    """Held pages (item, page, agreement) that the photo's text names, best first.

    Candidates come from the page_text FTS index (the photo's longest words, any of them),
    then each is compared whole. A page held both as a text layer and as OCR is compared
    with each and keeps the better.
    """
    seen = sorted({w for w in words(photo_text) if readable(w) and not w.isdigit()},
                  key=lambda w: (-len(w), w))[:16]
    if not seen:
        return []
    query = " OR ".join(f'"{w}"' for w in seen)
    # Only pages of documents and scans are pages a photo can name: two pictures carrying
    # the same words (screenshots with one caption, one app's chrome) are different
    # pictures, and text is not evidence that they are one (issue 21).
    rows = conn.execute(
        "SELECT p.item_id, p.page, p.text FROM page_text_fts f JOIN page_text p"
        " ON p.rowid = f.rowid JOIN items i ON i.sha256 = p.item_id"
        " WHERE page_text_fts MATCH ? AND i.kind IN ('document', 'scan')"
        " ORDER BY bm25(page_text_fts) LIMIT ?", (query, limit)).fetchall()
    best: dict[tuple[str, int], tuple[Agreement, str]] = {}
    for item, page, text in rows:
        if item == exclude:
            continue
        a = agreement(photo_text, text)
        if a is None or not a.same_page:
            continue
        old = best.get((item, page))
        if old is None or a.recall > old[0].recall:
            best[(item, page)] = (a, text)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0].recall, kv[1][0].extra))
    if not ranked:
        return []
    top = ranked[0][1][0].recall
    near = [(key, value) for key, value in ranked if top - value[0].recall < MARGIN]
    # Pages the photo fits about equally well must say the same (one page held twice, as a
    # PDF and as a scan); if they differ (two copies of a form whose answers OCR could not
    # tell apart), naming either would be a guess, so none is named.
    texts = [value[1] for _, value in near]
    for other in texts[1:]:
        said = agreement(texts[0], other)
        if said is None or not said.same_page:
            return []
    return [(item, page, value[0]) for (item, page), value in near]


def rectify(img: Image, side: int = 2000) -> Image | None:
    """The sheet in a photo, warped flat (longer side `side`), lighting evened; None if the
    photo shows no page-shaped sheet."""
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    from provenance.matching import sheet_corners

    rgb = np.asarray(img.convert("RGB"))
    scale = 800 / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)
    # Paper is bright and colourless; a desk is darker, a thumb coloured (skin: saturation
    # ~100 of 255, which 1.5 x takes below any paper, even in shadow).
    score = np.clip(hsv[..., 2] - 1.5 * hsv[..., 1], 0, 255).astype(np.uint8)
    score = np.asarray(cv2.GaussianBlur(score, (5, 5), 0), dtype=np.uint8)
    _, mask = cv2.threshold(score, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if n < 2:
        return None
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if not MIN_AREA * mask.size <= stats[big, cv2.CC_STAT_AREA] <= MAX_AREA * mask.size:
        return None
    contours, _ = cv2.findContours((labels == big).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    # The convex hull bridges a thumb or a shadow cutting into the sheet's edge.
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    perimeter = cv2.arcLength(hull, True)
    quad = None
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float32)
            break
        # A corner cut off by a shadow: the sheet's corners are where its sides' lines meet.
        quad = sheet_corners.corners(approx, small.shape[1], small.shape[0])
        if quad is not None:
            break
    if quad is None:
        quad = cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)
    quad /= scale
    sums, diffs = quad.sum(1), np.diff(quad, axis=1).ravel()
    tl, br, tr, bl = (quad[np.argmin(sums)], quad[np.argmax(sums)], quad[np.argmin(diffs)],
                      quad[np.argmax(diffs)])
    width = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    ratio = max(width, height) / max(min(width, height), 1.0)
    if not ASPECT[0] <= ratio <= ASPECT[1]:
        return None
    short = int(round(side / ratio))
    w, h = (short, side) if height >= width else (side, short)
    target = np.array([(0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1)], np.float32)
    warp = cv2.getPerspectiveTransform(np.array([tl, tr, br, bl], np.float32), target)
    # A corner outside the photo (a sheet running off it) is blank paper, not black.
    flat = cv2.warpPerspective(rgb, warp, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
    gray = cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # Divide by the paper's own brightness: uneven light and a shadow are evened out, the
    # ink stays. The paper is the sheet with its ink closed over (strokes are thinner than
    # 21 px), smoothed by 2 px only: a shadow's edge is sharp, and smoothed as before (15 px)
    # it stayed a grey band across the text (a Korean page under a shadow read as no words).
    closed = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((21, 21), np.uint8))
    paper = cv2.GaussianBlur(closed, (0, 0), 2)
    even = np.clip(gray / np.maximum(paper, 1.0) * 255.0, 0, 255).astype(np.uint8)
    return PILImage.fromarray(without_rules(even))


def without_rules(gray: Any) -> Any:
    """The page with its ruled lines (a form's boxes) painted out: Tesseract takes a boxed
    cell for a picture and skips its text. Measured on a photographed form: with its boxes,
    psm 4 read the heading alone; without them, every label and answer."""
    import cv2
    import numpy as np

    h, w = gray.shape
    # A rule is faint where the photo is blurred: grey, not black (looked for at 160, the
    # left rule of a shadowed form stayed, and Tesseract read none of the labels beside it).
    ink = (gray < RULE_INK).astype(np.uint8) * 255
    across = cv2.morphologyEx(ink, cv2.MORPH_OPEN,
                              cv2.getStructuringElement(cv2.MORPH_RECT, (max(w // 12, 1), 1)))
    down = cv2.morphologyEx(ink, cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(h // 20, 1))))
    rules = cv2.dilate(np.maximum(across, down), np.ones((5, 5), np.uint8))
    out = gray.copy()
    out[rules > 0] = 255
    return out


def binarized(sheet: Image) -> Image:
    """The flattened sheet in black and white by a local threshold: a shadow's soft edge or
    grey paper turns white, print stays black. Measured on the bench's photos of the
    four-language pages (three lines each), which Tesseract read as empty in 6 of 16: this
    read all 16; on denser pages it read worse than the grey sheet (so it is a second pass)."""
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    gray = np.asarray(sheet.convert("L"))
    out = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY,
                                31, 15)
    return PILImage.fromarray(out)
