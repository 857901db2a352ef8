"""Issue 15: items flagged graphic are previewed blurred and grey, in Datasette and exports."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest

from provenance.serve import app as serve_app

from .conftest import invoke


def _image(data: bytes) -> Any:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _sharpest_edge(img: Any) -> int:
    """The largest step between horizontally neighbouring pixels: a photo's edges jump by
    tens of grey levels, a blur by one or two."""
    from PIL import ImageChops

    grey = img.convert("L")
    w, h = grey.size
    step = ImageChops.difference(grey.crop((1, 0, w, h)), grey.crop((0, 0, w - 1, h)))
    return int(step.getextrema()[1])


def _is_grey(img: Any) -> bool:
    from PIL import ImageChops

    r, g, b = img.convert("RGB").split()
    return ImageChops.difference(r, g).getbbox() is None and (
        ImageChops.difference(g, b).getbbox() is None)


@pytest.fixture
def flagged(db: Path, photo_item: Any) -> tuple[str, str]:
    from fixtures import media

    graphic = photo_item(seed=11, name="graphic.jpg", gps=media.SERGEEVKA)
    plain = photo_item(seed=12, name="plain.jpg")
    invoke(db, "flag", graphic, "graphic-violence", check=True)
    invoke(db, "flag", plain, "deceptive", check=True)  # not a graphic flag: never blurred
    return graphic, plain


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def test_served_preview_of_a_flagged_item_is_blurred_grey_png(db: Path, flagged: Any) -> None:
    graphic, plain = flagged
    ds = serve_app.build(db)
    blurred = get(ds, f"/evidence/-/thumb/{graphic}")
    original = get(ds, f"/evidence/-/thumb/{graphic}?reveal=1")
    assert blurred.status_code == original.status_code == 200
    assert blurred.headers["content-type"] == "image/png"
    assert original.headers["content-type"] == "image/jpeg"
    assert blurred.content != original.content
    assert blurred.headers["cache-control"] == "no-cache"
    a, b = _image(blurred.content), _image(original.content)
    assert a.size == b.size
    assert _is_grey(a) and not _is_grey(b)
    # The photo's edges are gone.
    assert _sharpest_edge(a) <= 3 and _sharpest_edge(b) >= 20, (_sharpest_edge(a),
                                                                _sharpest_edge(b))
    unflagged = get(ds, f"/evidence/-/thumb/{plain}")
    assert unflagged.headers["content-type"] == "image/jpeg"


def test_unflagging_shows_the_preview_again(db: Path, flagged: Any) -> None:
    graphic, _ = flagged
    invoke(db, "flag", graphic, "graphic-violence", "--remove", check=True)
    shown = get(serve_app.build(db), f"/evidence/-/thumb/{graphic}")
    assert shown.headers["content-type"] == "image/jpeg"


def test_item_page_shows_the_blurred_preview_with_a_click_to_reveal(db: Path,
                                                                    flagged: Any) -> None:
    graphic, plain = flagged
    ds = serve_app.build(db)
    page = get(ds, f"/evidence/-/item/{graphic}").text
    assert f'class="thumbnail sensitive" src="/evidence/-/thumb/{graphic}"' in page
    assert f'data-reveal="/evidence/-/thumb/{graphic}?reveal=1"' in page
    assert "click the picture to show it" in page
    other = get(ds, f"/evidence/-/item/{plain}").text
    assert f'<img class="thumbnail" src="/evidence/-/thumb/{plain}"' in other


def _embedded(html: str) -> bytes:
    match = re.search(r'<img class="thumbnail[^"]*" src="data:image/[a-z]+;base64,([^"]+)"',
                      html)
    assert match, "no embedded preview"
    return base64.b64decode(match.group(1))


def test_exports_embed_only_the_blurred_preview_unless_asked(db: Path, flagged: Any,
                                                              tmp_path: Path) -> None:
    graphic, _ = flagged
    ds = serve_app.build(db)
    real = get(ds, f"/evidence/-/thumb/{graphic}?reveal=1").content
    default = invoke(db, "export", graphic, "--format", "html", check=True).stdout
    assert "data:image/jpeg" not in default
    hidden = _embedded(default)
    assert hidden != real and _is_grey(_image(hidden))
    assert "this report carries no unblurred picture" in default
    shown = invoke(db, "export", graphic, "--format", "html", "--show-sensitive",
                   check=True).stdout
    assert _embedded(shown) == real
    assert "shown unblurred (--show-sensitive)" in shown


def test_the_blur_is_made_only_from_a_verified_original(db: Path, flagged: Any) -> None:
    graphic, _ = flagged
    stored = next((db.parent / "evidence.store").rglob(graphic))
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    response = get(serve_app.build(db), f"/evidence/-/thumb/{graphic}")
    # A placeholder naming the damage: no picture at all, blurred or not.
    assert response.headers["content-type"] == "image/svg+xml"
    assert b"run prov verify" in response.content
