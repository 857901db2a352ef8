"""PDQ of a picture and of its sub-region windows from one luma plane, bit for bit pdqhash's.

`pdqhash.compute` converts RGB to luma in numpy (a third of its time on a 384 px frame) and
unpacks the hash bit by bit in Python, once per call; a picture with ten region windows paid
that eleven times, holding the GIL throughout, so a video's decoding thread waited on it.
Here the luma is computed once, with pdqhash's own formula, and each window is hashed by the
C++ function pdqhash wraps, called through ctypes (which releases the GIL). If that function
cannot be found (another pdqhash build), every call falls back to `pdqhash.compute` on the
RGB pixels: slower, same values. tests/test_pdqfast.py holds the two paths equal.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np

# The eight orientations, in pdqhash.compute_dihedral's order: the region names of the
# query-only PDQ variants.
DIHEDRAL = ("full", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus", "flipminus")


def pack_bits(bits: np.ndarray) -> bytes:
    """pdqhash's 256-bit vector as the 32 bytes prov stores.

    Bit i of the binding's vector is bit i%16 of word i//16; reversing then packing
    MSB-first gives ThreatExchange's hex order (word 15 first).
    """
    return np.packbits(bits[::-1].astype(np.uint8)).tobytes()

# pdqhash compiles ThreatExchange's C++ into its extension module with external linkage.
_HASH = "_ZN8facebook3pdq7hashing23pdqHash256FromFloatLumaEPfS2_iiPA64_fS4_PA16_fRNS1_7Hash256ERi"
_DIHEDRAL_SYMBOL = ("_ZN8facebook3pdq7hashing33pdqDihedralHash256esFromFloatLumaEPfS2_iiPA64_f"
                    "S4_PA16_fS6_PNS1_7Hash256ES8_S8_S8_S8_S8_S8_S8_Ri")

_native: tuple[Callable[..., Any], Callable[..., Any]] | None | bool = False  # False: not tried


def _functions() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    global _native
    if _native is False:
        _native = None
        try:
            import pdqhash.bindings as bindings

            lib = ctypes.CDLL(bindings.__file__)
            one, eight = getattr(lib, _HASH), getattr(lib, _DIHEDRAL_SYMBOL)
        except (ImportError, OSError, AttributeError):
            return None
        p, n = ctypes.c_void_p, ctypes.c_int
        one.argtypes = [p, p, n, n, p, p, p, p, p]
        one.restype = None
        eight.argtypes = [p, p, n, n, p, p, p, p, *([p] * 8), p]
        eight.restype = ctypes.c_bool
        _native = (one, eight)
    return _native if isinstance(_native, tuple) else None


def native() -> bool:
    """Whether the fast path is in use (for tests and benchmarks)."""
    return _functions() is not None


def luma(rgb: np.ndarray) -> np.ndarray:
    """pdqhash's own RGB -> luma, in the same float64 arithmetic, then float32."""

    gray: np.ndarray = (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587
                        + rgb[:, :, 2] * 0.114).astype(np.float32)
    return gray


def _bits(words: np.ndarray) -> bytes:
    """Hash256's sixteen 16-bit words as the bytes pack_bits makes of pdqhash's bits."""

    return bytes(np.packbits(np.unpackbits(words.view(np.uint8), bitorder="little")).tobytes())


class Picture:
    """One RGB picture (h, w, 3 uint8) whose whole PDQ and window PDQs are wanted."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb
        self.functions = _functions()
        self.luma = luma(rgb) if self.functions else None

    def dihedral(self) -> tuple[list[bytes], int]:
        """The eight dihedral hashes (in pdqhash.compute_dihedral's order, DIHEDRAL)
        and the quality, as pack_bits(pdqhash.compute_dihedral(rgb)) gives them."""

        if self.functions is None or self.luma is None:
            import pdqhash

            all_bits, quality = pdqhash.compute_dihedral(self.rgb)
            return [pack_bits(b) for b in all_bits], int(quality)
        buffers = _buffers(self.luma.copy())  # the filter works in place: a copy
        aux = np.empty((16, 16), np.float32)
        words = np.zeros((8, 16), np.uint16)
        quality = ctypes.c_int(0)
        self.functions[1](*_addresses(buffers), aux.ctypes.data,
                          *(words[i].ctypes.data for i in range(8)), ctypes.byref(quality))
        return [_bits(words[i]) for i in range(8)], quality.value

    def window(self, box: tuple[int, int, int, int]) -> tuple[bytes, int]:
        """PDQ and quality of the (left, top, right, bottom) window, as pdqhash.compute of
        that crop gives them."""

        left, top, right, bottom = box
        if self.functions is None or self.luma is None:
            import pdqhash

            bits, quality = pdqhash.compute(np.ascontiguousarray(self.rgb[top:bottom, left:right]))
            return pack_bits(bits), int(quality)
        buffers = _buffers(np.array(self.luma[top:bottom, left:right], np.float32, order="C"))
        words = np.zeros(16, np.uint16)
        quality = ctypes.c_int(0)
        self.functions[0](*_addresses(buffers), words.ctypes.data, ctypes.byref(quality))
        return _bits(words), quality.value


def _buffers(work: np.ndarray) -> list[np.ndarray]:
    """The luma to filter (in place), its scratch twin, and the 64x64, 16x64, 16x16 buffers.
    The caller keeps the list alive across the call: ctypes only sees addresses."""

    return [work, np.empty_like(work),
            *(np.empty(s, np.float32) for s in ((64, 64), (16, 64), (16, 16)))]


def _addresses(buffers: list[np.ndarray]) -> tuple[int, ...]:
    work, scratch, b64, b16x64, b16 = buffers
    rows, cols = work.shape
    return (work.ctypes.data, scratch.ctypes.data, rows, cols, b64.ctypes.data,
            b16x64.ctypes.data, b16.ctypes.data)
