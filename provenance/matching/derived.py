"""Derived caches beside the store (keypoints, keyframes, indexes): rebuilt if lost."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from provenance.matching.localmatch import LocalFeatures


def features_path(root: Path, sha256: str) -> Path:
    """Keypoints of an item's picture: a derived cache, rebuilt from the original if lost."""
    return root / "features" / sha256[:2] / f"{sha256}.npz"


def save_derived(target: Path, **arrays: Any) -> None:
    """Write a derived cache file (numpy arrays) beside the store: whole, then renamed, once."""


    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".npz")
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, target)


def save_derived_folder(folder: Path, fill: Callable[[Path], None]) -> bool:
    """Write a derived cache folder: `fill` writes into a fresh folder, which is then swapped
    in whole, so a reader never sees half of it. False if the store cannot be written (a
    read-only store still works; its caches are rebuilt in memory each time)."""


    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".incoming-"))
        fill(tmp)
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True


def put_features(root: Path, sha256: str, features: dict[str, Any]) -> None:


    unpacked = LocalFeatures.unpack(features)
    band = {} if unpacked.band is None else {"band_points": unpacked.band.points,
                                            "band_descriptors": unpacked.band.descriptors,
                                            "band_size": np.array(unpacked.band.size or (0, 0))}
    if unpacked.size is not None:
        band["size"] = np.array(unpacked.size)
    save_derived(features_path(root, sha256), points=unpacked.points,
                 descriptors=unpacked.descriptors, **band)


def load_features(root: Path, sha256: str) -> Any:
    """The item's LocalFeatures, or None when no keypoints were cached for it."""




    path = features_path(root, sha256)
    try:
        with np.load(path) as data:
            # A file written before band keypoints (bandkeys) has none: read as no band.
            band = (LocalFeatures(data["band_points"], data["band_descriptors"],
                                  size=_size(data, "band_size"))
                    if "band_points" in data.files else None)
            return LocalFeatures(data["points"], data["descriptors"], band, _size(data, "size"))
    except (OSError, ValueError, KeyError):
        return None


def _size(data: Any, name: str) -> tuple[int, int] | None:
    """A cached picture size (width, height), or None when absent or unusable."""
    if name not in data.files:
        return None
    value = np.asarray(data[name]).ravel()
    if value.shape != (2,) or value.min() <= 0:
        return None
    return int(value[0]), int(value[1])
