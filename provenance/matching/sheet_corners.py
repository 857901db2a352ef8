"""The four corners of a photographed sheet whose outline lost a corner to a shadow.

A shadow falling across a sheet's corner darkens the paper there below the brightness that
tells paper from desk, so the bright region found (matching/pages.py `rectify`) is the sheet
with that corner cut off: a pentagon. Taking four of its five vertices as the sheet's corners
skews the flattened sheet (by 1-3 degrees on the bench's photos: the form's rules then slant,
are not painted out, and Tesseract read half the words). The sheet's edges are still there,
each along one of the outline's long sides, so its corners are where those sides' lines meet:
of the quadrilaterals whose sides lie on four of the outline's sides, the smallest that holds
the whole outline (a cut side, left out, is the one whose omission adds least area; a real side
left out would leave part of the outline outside, or make a larger quadrilateral).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

# At most this many sides are tried (C(8, 4) = 70 quadrilaterals): an outline with more is
# not a sheet with a corner or two cut off.
MAX_SIDES = 8
# The quadrilateral may add at most this share to the outline's area: the bench's shadow
# covers at most a triangle of 0.45 x 0.4 of the photo, up to ~20% of the sheet.
MAX_GROWTH = 1.5
# A sheet running off the photo has corners outside it, up to this share of its size away
# (the part not photographed is blank paper in the flattened sheet).
OUTSIDE = 0.5
# A side within this many pixels of the picture's edge lies along it.
BORDER = 2
# An outline's vertex may lie this many pixels outside the quadrilateral (rounding).
SLACK = 2.0


def corners(outline: Any, width: int, height: int) -> Any | None:
    """Four corners (float32, 4 x 2, in outline order) of the smallest quadrilateral whose
    sides lie along four of the convex `outline`'s sides and which holds the outline; None
    when no such quadrilateral lies near the picture (`width` x `height`, OUTSIDE)."""
    import numpy as np

    pts = np.asarray(outline, np.float64).reshape(-1, 2)
    n = len(pts)
    if n < 4 or n > MAX_SIDES:
        return None
    area = _area(pts)
    # A side along the picture's border is the frame cutting the sheet, not a sheet's edge.
    sides = [i for i in range(n) if not _on_border(pts[i], pts[(i + 1) % n], width, height)]
    best: tuple[float, Any] | None = None
    for kept in combinations(sides, 4):
        lines = [(pts[i], pts[(i + 1) % n]) for i in kept]
        quad = []
        for k in range(4):
            hit = _meet(lines[k - 1], lines[k])
            if hit is None:
                break
            quad.append(hit)
        if len(quad) < 4:
            continue
        q = np.array(quad)
        if not _inside_picture(q, width, height) or not _holds(q, pts):
            continue
        size = _area(q)
        if size > MAX_GROWTH * area:
            continue
        if best is None or size < best[0]:
            best = (size, q)
    return None if best is None else best[1].astype(np.float32)


def _meet(a: tuple[Any, Any], b: tuple[Any, Any]) -> Any | None:
    """Where the lines through segments `a` and `b` cross; None if about parallel."""
    import numpy as np

    d1, d2 = a[1] - a[0], b[1] - b[0]
    cross = d1[0] * d2[1] - d1[1] * d2[0]
    if abs(cross) < 1e-6 * (np.hypot(*d1) * np.hypot(*d2) + 1e-9) or abs(cross) < 1e-9:
        return None
    t = ((b[0][0] - a[0][0]) * d2[1] - (b[0][1] - a[0][1]) * d2[0]) / cross
    return a[0] + t * d1


def _area(pts: Any) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return float(abs((x * _roll(y) - _roll(x) * y).sum()) / 2)


def _roll(v: Any) -> Any:
    import numpy as np

    return np.roll(v, -1)


def _holds(quad: Any, pts: Any) -> bool:
    """Is the quadrilateral convex, and every point inside it (within SLACK pixels)?"""
    import numpy as np

    edges = _roll_rows(quad) - quad
    sign = np.sign(edges[:, 0] * (_roll_rows(edges)[:, 1]) - edges[:, 1] * _roll_rows(edges)[:, 0])
    if not (np.all(sign > 0) or np.all(sign < 0)):
        return False
    for k in range(4):
        e = edges[k]
        length = float(np.hypot(*e))
        if length < 1.0:
            return False
        rel = pts - quad[k]
        side = (e[0] * rel[:, 1] - e[1] * rel[:, 0]) / length * sign[0]
        if side.min() < -SLACK:
            return False
    return True


def _roll_rows(a: Any) -> Any:
    import numpy as np

    return np.roll(a, -1, axis=0)


def _on_border(a: Any, b: Any, width: int, height: int) -> bool:
    near = BORDER
    return bool((a[0] <= near and b[0] <= near) or (a[1] <= near and b[1] <= near)
                or (a[0] >= width - 1 - near and b[0] >= width - 1 - near)
                or (a[1] >= height - 1 - near and b[1] >= height - 1 - near))


def _inside_picture(quad: Any, width: int, height: int) -> bool:
    mx, my = OUTSIDE * width, OUTSIDE * height
    return bool((quad[:, 0] >= -mx).all() and (quad[:, 0] <= width + mx).all()
                and (quad[:, 1] >= -my).all() and (quad[:, 1] <= height + my).all())
