"""One event of the log: what was recorded, by whom, when, and the envelope that is hashed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT = 1


@dataclass(frozen=True)
class Event:
    seq: int
    recorded_at: str
    recorded_by: str
    type: str
    item: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def envelope(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "recorded_by": self.recorded_by,
            "type": self.type,
            "item": self.item,
            "data": self.data,
        }
