"""False re-upload links between copies of different pictures that share only an overlay.

Copies of different originals are registered together, as an investigator registers a
batch: for each set (a transformation of bench/robustness_images.py, or an overlay of
fixtures/overlays.py: three app chromes, captions in two fonts, a channel logo), every base
photo's copy joins the gallery of bases and distractors, and every copy is then matched,
through exactly `matchrule.find`, against that gallery without itself, at `prov add`'s crop
candidates and at `prov match`'s. Counted per set:

- recall: the copy called a re-upload of its own original;
- false links: any other copy or gallery item called a re-upload (copies of one base are
  one picture; everything else is a different one);
- burst pairs: two shots of one generated scene seconds apart (camera moved ~2%, new sensor
  noise), registered without their scene: shot B called a re-upload of shot A;
- pages and video, through `prov add` and `prov match` on a real database: different
  documents on one letterhead, two filled copies of one blank form, different clips
  carrying one channel's logo on every frame: re-upload links between different items.

    .venv/bin/python bench/overlays.py [--generated 24] [--distractors 200] [--only social]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import robustness_images as R  # noqa: E402

from fixtures import images as F  # noqa: E402
from fixtures import overlays as O  # noqa: E402
from provenance.ingest.register import ADD_CROP_CANDIDATES  # noqa: E402
from provenance.matching import matchrule  # noqa: E402


def overlay_rows() -> list[tuple[str, R.Transform]]:
    out: list[tuple[str, R.Transform]] = []
    for chrome in O.CHROMES:
        out.append((f"screenshot: {chrome} app", lambda im, i, c=chrome: O.screenshot(im, c)))
    for kind in O.FONTS:
        out.append((f"caption bar, {kind} font",
                    lambda im, i, k=kind: O.caption_bar(im, kind=k)))
    out.append(("channel logo, top left", lambda im, i: O.channel_logo(im)))
    return out


_BASE: list[R.Analysed] = []
_COPIES: list[R.Analysed] = []
_GALLERY: R.Gallery | None = None
_NAMED: list[tuple[str, Any]] = []
_TRANSFORM: R.Transform | None = None


def _copy(i: int) -> R.Analysed:
    assert _TRANSFORM is not None
    return R.analyse(F.encode(_TRANSFORM(_NAMED[i][1], i), "JPEG", quality=92))


def _query(i: int) -> dict[str, Any]:
    """Copy i (gallery key len(_BASE) + i) against the gallery without itself."""
    assert _GALLERY is not None
    me = len(_BASE) + i
    out: dict[str, Any] = {"i": i}
    for name, k in (("add", ADD_CROP_CANDIDATES), ("match", matchrule.CROP_CANDIDATES)):
        found = matchrule.find(_COPIES[i].query, _GALLERY.stored, exclude={me},
                               query_features=_COPIES[i].features,
                               load_features=_GALLERY.features, crop_candidates=k,
                               keypoint_index=_GALLERY.keypoints)
        verdicts = {m.key: m.verdict for m in found}
        out[name] = verdicts.get(i)
        out[name + "_false"] = sorted(
            k for k, v in verdicts.items()
            if v == "re-upload" and k != i and k != me)
    return out


def run_set(name: str, transform: R.Transform, n: int, jobs: int, scored: list[int]) -> str:
    global _COPIES, _GALLERY, _TRANSFORM
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    _TRANSFORM = transform
    with ctx.Pool(jobs) as pool:
        _COPIES = pool.map(_copy, range(n), chunksize=4)
    _GALLERY = R.Gallery(_BASE + _COPIES)
    with ctx.Pool(jobs) as pool:
        results = pool.map(_query, range(n), chunksize=4)
    m = len(scored)
    add = sum(x["add"] == "re-upload" for x in results if x["i"] in scored) / m
    wide = sum(x["match"] == "re-upload" for x in results if x["i"] in scored) / m
    # Unordered pairs of different pictures' copies linked, at either K, from either side.
    copy_pairs = {tuple(sorted((x["i"], k - len(_BASE)))) for x in results
                  for k in x["add_false"] + x["match_false"] if k >= len(_BASE)}
    other_false = sum(sum(k < len(_BASE) for k in set(x["add_false"] + x["match_false"]))
                      for x in results)
    links = [f"  {_NAMED[x['i']][0]} -> "
             + ", ".join(_NAMED[k - len(_BASE)][0] if k >= len(_BASE) else f"gallery {k}"
                         for k in sorted(set(x["add_false"] + x["match_false"])))
             for x in results if x["add_false"] or x["match_false"]]
    row = (f"| {name} | {add:.3f} | {wide:.3f} | {len(copy_pairs)}/{n * (n - 1) // 2:,} "
           f"| {other_false} |")
    print(row, flush=True)
    for line in links[:8]:
        print(line, flush=True)
    missed = [f"{_NAMED[x['i']][0]} ({x['add']})" for x in results
              if x["i"] in scored and x["add"] != "re-upload"]
    if missed:
        print(f"  missed by add: {', '.join(missed)}", flush=True)
    return row


def bursts(count: int) -> str:
    """Shot B of each scene against a gallery of every scene's shot A and B (not itself)."""
    shots = [R.analyse(F.encode(O.burst(s, second=b), "JPEG", quality=92))
             for s in range(count) for b in (False, True)]
    gallery = R.Gallery(shots)
    linked = similar = strangers = 0
    for s in range(count):
        me, other = 2 * s + 1, 2 * s
        found = {m.key: m.verdict for m in matchrule.find(
            shots[me].query, gallery.stored, exclude={me}, query_features=shots[me].features,
            load_features=gallery.features, crop_candidates=matchrule.CROP_CANDIDATES,
            keypoint_index=gallery.keypoints)}
        linked += found.get(other) == "re-upload"
        similar += found.get(other) == "similar"
        strangers += sum(v == "re-upload" for k, v in found.items() if k != other)
    return (f"burst pairs ({count} scenes): shot B a re-upload of shot A {linked}/{count}, "
            f"similar {similar}/{count}; other scenes called re-uploads: {strangers}")


def _links(paths: list[Path]) -> list[tuple[str, str, str]]:
    """Register `paths` one by one with `prov add` in a fresh database; every re-upload link
    between two of them (a, the earlier one b, what decided it)."""
    import tempfile

    from provenance.ingest import register as ingest
    from provenance.ingest.match import match
    from provenance.ledger.db import open_db

    out: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "evidence.db", create=True)
        names: dict[str, str] = {}
        for path in paths:
            held = ingest.add_paths(conn, [str(path)], ingest.Sighting(), by="bench")
            for m in match(conn, held[0].sha256)["matches"]:
                if m["verdict"] == "re-upload" and m["sha256"] in names:
                    out.append((path.name, names[m["sha256"]],
                                f"{m['algorithm']} {m['distance']:g}"))
            names[held[0].sha256] = path.name
    return out


def _scanned(pdf: Path, out: Path, dpi: int = 100) -> Path:
    """The PDF's pages as pictures in a new PDF: a scan, no text layer (registered without
    OCR, so only the pages' pixels and keypoints can tell them apart)."""
    import pymupdf

    src, dst = pymupdf.open(str(pdf)), pymupdf.open()
    for page in src:
        sheet = dst.new_page(width=page.rect.width, height=page.rect.height)
        sheet.insert_image(sheet.rect, stream=page.get_pixmap(dpi=dpi).tobytes("png"))
    dst.save(str(out))
    return out


def pages(count: int) -> list[str]:
    """`count` different documents on one letterhead (with their text layers, and scanned
    without text), and two filled copies of one form."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        letters = [O.write_letterhead(Path(tmp) / f"letter{s}.pdf", seed=s,
                                      pages=1 + (s % 3 == 0)) for s in range(count)]
        scans = [_scanned(p, Path(tmp) / f"scan{s}.pdf") for s, p in enumerate(letters)]
        forms = [O.write_filled_form(Path(tmp) / f"form{s}.pdf", seed=s) for s in range(2)]
        rows = []
        for name, group in ((f"{count} documents on one letterhead", letters),
                            (f"{count} documents on one letterhead, scanned, no text", scans),
                            ("two filled copies of one blank form", forms)):
            links = _links(group)
            n = len(group)
            rows.append(f"| {name} | {len(links)}/{n * (n - 1) // 2} | "
                        + ("; ".join(f"{a}->{b} {how}" for a, b, how in links) or "-") + " |")
    return rows


def video_logo(count: int) -> str:
    """`count` different clips, each re-posted with one channel's badge on every frame."""
    import tempfile

    import numpy as np
    from PIL import Image

    from fixtures import video as V

    def badge(frame: np.ndarray) -> np.ndarray:
        return np.asarray(O.channel_logo(Image.fromarray(frame)))

    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for s in range(count):
            raw = V.write_video(Path(tmp) / f"raw{s}.mp4", seed=500 + s, seconds=8)
            clips.append(V.transcode(raw, Path(tmp) / f"clip{s}.mp4", transform=badge))
        links = _links(clips)
    return (f"| {count} clips, one channel logo | {len(links)}/{count * (count - 1) // 2} | "
            + ("; ".join(f"{a}->{b} {how}" for a, b, how in links) or "-") + " |")


def main() -> None:
    global _BASE, _NAMED
    import multiprocessing

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generated", type=int, default=24)
    parser.add_argument("--distractors", type=int, default=200)
    parser.add_argument("--only", help="run only sets whose name contains this")
    parser.add_argument("--skip", help="skip sets whose name contains this")
    parser.add_argument("--robustness", action="store_true",
                        help="also every transformation of bench/robustness_images.py")
    parser.add_argument("--bursts", type=int, default=24)
    parser.add_argument("--documents", type=int, default=10,
                        help="documents on one letterhead (0: no page sets)")
    parser.add_argument("--clips", type=int, default=10,
                        help="clips under one channel logo (0: no video set)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    start = time.perf_counter()
    _NAMED = R.bases(args.generated)
    R._NAMED = _NAMED
    n = len(_NAMED)
    size = n + args.distractors
    cache = R._cache_path(args.generated, args.distractors)
    if cache.exists():
        _BASE = pickle.loads(cache.read_bytes())
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(args.jobs) as pool:
            _BASE = pool.map(R._analyse_stored, [(k, args.distractors) for k in range(size)],
                             chunksize=16)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(_BASE))
    low = [i for i in range(n) if _BASE[i].quality < R.H.PDQ_MIN_QUALITY]
    scored = [i for i in range(n) if i not in low]
    print(f"{n} bases + {args.distractors} distractors; each set adds its {n} copies; "
          f"recall over {len(scored)} bases; {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}\n")
    print(f"| set | recall add (K={ADD_CROP_CANDIDATES}) | recall match "
          f"(K={matchrule.CROP_CANDIDATES}) | false links copy-to-copy (either K) "
          "| false links to bases/distractors |")
    print("|---|---|---|---|---|")
    sets = overlay_rows() + (R.rows() if args.robustness else [])
    for name, transform in sets:
        if (args.only and args.only not in name) or (args.skip and args.skip in name):
            continue
        run_set(name, transform, n, args.jobs, scored)
    if args.bursts and not args.only:
        print("\n" + bursts(args.bursts))
    if (args.documents or args.clips) and not args.only:
        print("\n| set | re-upload links between different items | which |\n|---|---|---|")
    if args.documents and not args.only:
        print("\n".join(pages(args.documents)), flush=True)
    if args.clips and not args.only:
        print(video_logo(args.clips), flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
