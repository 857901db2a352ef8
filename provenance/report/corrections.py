"""What reports show of names, tags, notes, withdrawals and corrections, and how a struck
entry (retracted or superseded) reads: never hidden, always with who, when and why."""

from __future__ import annotations

from typing import Any


class Struck(str):
    """A report line for an entry a later event retracted or superseded; `note` says who,
    when and why. Renderers strike the line through and print the note beside it."""

    note: str

    def __new__(cls, line: str, note: str) -> Struck:
        self = super().__new__(cls, line)
        self.note = note
        return self


def line(text: str, entry: Any) -> str:
    """`text`, struck when the entry it shows carries a "struck" note."""
    note = entry.get("struck") if isinstance(entry, dict) else None
    return Struck(text, str(note)) if note else text


def plain(text: str) -> str:
    """A line for a terminal, which cannot strike through: the note in capitals first."""
    if isinstance(text, Struck):
        return f"[{text.note.split(' by ', 1)[0].upper()}] {text}  ({text.note})"
    return text


def label_lines(it: dict[str, Any]) -> list[str]:
    """Name, tags, notes, withdrawal and corrections, one line each (empty when none)."""
    out: list[str] = []
    w = it.get("withdrawn")
    if w:
        out.append(f"WITHDRAWN by {w['by']} at {w['at']} (event {w['event']}): {w['reason']}"
                   " (kept, hashed and verifiable; left out of list, dupes and matching)")
    if it.get("name"):
        out.append(f"name: {it['name']}")
    for n in it.get("names") or []:
        if n.get("name") != it.get("name") or n.get("struck"):
            out.append(line(f"earlier name: {n['name']} (event {n['id']}, {n['recorded_by']}"
                            f" at {n['recorded_at']})", n))
    if it.get("tags"):
        out.append("tags: " + ", ".join(it["tags"]))
    for t in it.get("tag_history") or []:
        if t.get("struck"):
            out.append(line(f"tag {t['tag']} (event {t['id']})", t))
        elif t.get("removed_by"):
            out.append(f"tag {t['tag']} (event {t['id']}) removed by event {t['removed_by']}")
    for n in it.get("notes") or []:
        out.append(line(f"note {n['id']} by {n['recorded_by']} at {n['recorded_at']}:"
                        f" {n['text']}", n))
    return out


def correction_lines(it: dict[str, Any]) -> list[str]:
    """Every retraction, correction and withdrawal recorded about the item."""
    out = []
    for c in it.get("corrections") or []:
        target = f" {c['entry']} (event {c['event']})" if c.get("event") is not None else ""
        changed = f", changed {c['changed']}" if c.get("changed") else ""
        out.append(f"event {c['id']}: {c['what']}{target} by {c['recorded_by']} at"
                   f" {c['recorded_at']}{changed}: {c['reason']}")
    return out
