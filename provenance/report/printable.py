"""Text made safe for a terminal: one line, every control shown as an escape.

Its own module, importing nothing of prov: every command's output goes through it, and
`prov --version` or `prov match` should not load the report renderers to get it.
"""

from __future__ import annotations

import re
from typing import Any

# What must not reach a terminal raw: C0 and C1 controls and DEL (line breaks, carriage
# returns, escape sequences that move the cursor or recolour), the Unicode line and paragraph
# separators, and the bidirectional marks, embeddings, overrides and isolates that reorder
# what is shown (a file name can otherwise forge a line of output or disguise itself).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                          "\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any) -> str:
    """One line of text safe to print on a terminal: every control character, line break
    and bidirectional control shown as a visible escape (`\\n`, `\\x1b`, `\\u202e`)."""
    return _UNPRINTABLE.sub(_escape, str(text))
