"""Photographed pages: recall and false page links (issue 18), through `prov match`'s core.

    .venv/bin/python bench/pages.py [PHOTOS_PER_PAGE] [FORMS] [SEED_OFFSET]

Documents: FORMS filled-in copies of one blank form (default 18: same layout, different
answers), the 3-page questionnaire and the 4-page four-language document: 20 documents, 25
pages. Each page is photographed PHOTOS_PER_PAGE times (default 4: 100 photos) by
fixtures/photographed.py: perspective up to 15% corner shift, rotation up to 10 degrees,
1 px blur, JPEG 70, a darker desk, a thumb or a shadow. A photo is found when its matches
name its document and page as a re-upload; every re-upload naming another page is a false
page link.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures import photographed as ph  # noqa: E402
from fixtures import text_pages as tp  # noqa: E402
from fixtures.documents import write_questionnaire  # noqa: E402


def main() -> None:
    per_page = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    forms = int(sys.argv[2]) if len(sys.argv) > 2 else 18
    offset = int(sys.argv[3]) if len(sys.argv) > 3 else 0  # another set of photos
    from provenance.ingest import match as matching
    from provenance.ingest import register
    from provenance.ingest.reading import Plan
    from provenance.ledger.db import open_db
    from provenance.media import ocr
    from provenance.media.pdfrender import text_layers

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        docs = [ph.filled_form(d / f"form{n:02d}.pdf", n) for n in range(forms)]
        docs.append(write_questionnaire(d / "questionnaire.pdf"))
        docs.append(tp.write_pdf(d / "four.pdf", list(tp.TEXTS)))
        conn = open_db(d / "evidence.db", create=True)
        plan = Plan(ocr.engine())
        added = register.add_paths(conn, [str(p) for p in docs], register.Sighting(),
                                   by="bench", plan=plan)
        sha = {Path(r.path).name: r.sha256 for r in added}
        found = total = false = 0
        misses: list[str] = []
        started = time.perf_counter()
        for doc in docs:
            for page, _ in text_layers(doc):
                img = ph.page_picture(doc, page)
                for k in range(per_page):
                    seed = 1000 * docs.index(doc) + 10 * page + k + offset
                    photo = d / f"photo-{doc.stem}-{page}-{k}.jpg"
                    photo.write_bytes(ph.photograph(img, seed))
                    result = matching.match(conn, str(photo))
                    links = {(m["sha256"], m.get("page")) for m in result["matches"]
                             if m["verdict"] == "re-upload"}
                    total += 1
                    right = (sha[doc.name], page)
                    if right in links:
                        found += 1
                    else:
                        misses.append(f"{doc.name} p{page} seed {seed}")
                    wrong = links - {right}
                    false += len(wrong)
                    names = {v: k for k, v in sha.items()}
                    misses.extend(f"FALSE: {doc.name} p{page} seed {seed} -> {names.get(s)} p{p}"
                                  for s, p in wrong)
        took = time.perf_counter() - started
        print("| documents | pages | photos | found | recall | false page links |"
              " s / photo |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        pages = total // per_page
        print(f"| {len(docs)} | {pages} | {total} | {found} | {found / total:.3f} | {false} |"
              f" {took / total:.1f} |")
        for miss in misses:
            print("missed:", miss)


if __name__ == "__main__":
    main()
