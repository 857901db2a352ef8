"""`prov match` answers recorded and compared: a change made for speed must not change them.

    .venv/bin/python bench/match_answers.py --db DB --out answers.json [--prov OTHER/.venv/bin/prov]
    .venv/bin/python bench/match_answers.py --db DB --out new.json --against old.json

Queries are made (once, into --queries, default DB's folder/match-queries, reused after)
from a photo the database holds (`--photo`; default: the bench archive's `real-photos/`,
else the demo's gate photo): a resized re-upload as bench/archive.py makes it, a crop, a
screenshot-like re-encode (the photo on a phone's canvas with bars, saved as PNG), a
quarter turn, a mirror image, an unrelated picture and one whose EXIF is nonsense
(warnings); `--extra` adds files as they are (a PDF, a video), and the item the re-upload
was found to be is matched by its SHA-256 prefix (`prov match ITEM`). Each query is its own
`prov --db DB match Q --json` process; the JSON documents are written side by side and,
with --against, compared: any difference is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def default_photo(db: Path) -> Path:
    real = db.parent / "real-photos"
    if real.is_dir():
        return sorted(real.iterdir())[3]  # the one bench/archive.py's --measure resizes
    demo = db.parent / "seed-media" / "gate_photo_unsigned.jpg"
    if demo.exists():
        return demo
    raise SystemExit("no photo to derive queries from: give --photo (a picture DB holds)")


def make_queries(photo: Path, folder: Path) -> list[Path]:
    """The query files (made once; later runs reuse them byte for byte)."""
    from PIL import Image, ImageOps

    from fixtures import media

    folder.mkdir(parents=True, exist_ok=True)
    img = Image.open(photo).convert("RGB")
    w, h = img.size

    def resized() -> Image.Image:
        return img.resize((w * 3 // 5, h * 3 // 5))

    def crop() -> Image.Image:
        return img.crop((w // 10, h // 8, w - w // 5, h - h // 10))

    def screenshot() -> Image.Image:
        canvas = Image.new("RGB", (w + 40, h * 2), (24, 24, 28))
        canvas.paste(img.resize((w, h)), (20, h // 2))
        canvas.paste(Image.new("RGB", (w + 40, 36), (250, 250, 250)), (0, 0))
        return canvas

    makers: dict[str, Any] = {
        "reupload.jpg": lambda: resized().save(folder / "reupload.jpg", "JPEG", quality=70),
        "crop.jpg": lambda: crop().save(folder / "crop.jpg", "JPEG", quality=85),
        "screenshot.png": lambda: screenshot().save(folder / "screenshot.png", "PNG"),
        "turned.jpg": lambda: img.rotate(90, expand=True).save(folder / "turned.jpg", "JPEG",
                                                               quality=80),
        "mirrored.jpg": lambda: ImageOps.mirror(img).save(folder / "mirrored.jpg", "JPEG",
                                                          quality=80),
        "unrelated.jpg": lambda: (folder / "unrelated.jpg").write_bytes(
            media.jpeg_with_exif(424_242, size=(800, 600))),
        "absurd-exif.jpg": lambda: (folder / "absurd-exif.jpg").write_bytes(
            media.absurd_exif_jpeg()),
    }
    out = []
    for name, make in makers.items():
        if not (folder / name).exists():
            make()
        out.append(folder / name)
    return out


def answer(prov: str, db: Path, target: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([prov, "--db", str(db), "match", target, "--json"],
                          capture_output=True, text=True, env=env, check=False)
    return {"exit": done.returncode, "stdout": json.loads(done.stdout) if done.stdout.strip()
            else None, "stderr": done.stderr}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prov", default=str(Path(sys.executable).with_name("prov")))
    parser.add_argument("--photo", type=Path, help="a held photo to make queries from")
    parser.add_argument("--extra", type=Path, nargs="*", default=[],
                        help="more query files, as they are (a PDF, a video)")
    parser.add_argument("--queries", type=Path,
                        help="where the query files are made (default: DB's folder/match-queries)")
    parser.add_argument("--against", type=Path, help="answers recorded earlier, to compare")
    args = parser.parse_args()
    photo = args.photo or default_photo(args.db)
    folder = args.queries or args.db.parent / "match-queries"
    queries = [str(q) for q in make_queries(photo, folder)]
    queries += [str(e) for e in args.extra]
    answers = {q: answer(args.prov, args.db, q) for q in queries}
    # `prov match ITEM`: the item the re-upload was found to be (else the photo's own bytes).
    found = (answers[queries[0]]["stdout"] or {}).get("matches") or [
        {"sha256": hashlib.sha256(photo.read_bytes()).hexdigest()}]
    item = found[0]["sha256"][:16]
    answers[item] = answer(args.prov, args.db, item)
    args.out.write_text(json.dumps(answers, indent=1, sort_keys=True))
    for q, a in answers.items():
        doc = a["stdout"] or {}
        print(f"{Path(q).name}: exit {a['exit']}, "
              + ", ".join(f"{m['verdict']} {m['sha256'][:12]} {m['algorithm']} {m['distance']:g}"
                          for m in doc.get("matches", [])[:4])
              + (f" [{len(doc.get('matches', []))} matches]" if doc else a["stderr"][-200:]))
    if args.against:
        before = json.loads(args.against.read_text())
        differ = [q for q in sorted(before.keys() | answers.keys())
                  if before.get(q) != answers.get(q)]
        for q in differ:
            print(f"DIFFERENT: {q}\n  before: {json.dumps(before.get(q))[:2000]}\n"
                  f"  now:    {json.dumps(answers.get(q))[:2000]}")
        print(f"{len(answers) - len(differ)} of {len(answers)} answers identical")
        if differ:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
