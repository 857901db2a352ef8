"""Around Datasette's answers: no writes to a prov database, no live formulas in CSV."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[dict[str, Any], Any, Send], Awaitable[None]]

READ_METHODS = {"GET", "HEAD", "OPTIONS"}

# A cell a spreadsheet would run as a formula (OWASP's list: = + - @, and a leading tab or
# carriage return some spreadsheets skip first), unless the whole cell is a plain number
# (-33.86 stays a number).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def defuse(cell: str) -> str:
    """A CSV cell that opens in a spreadsheet as the text it is, never as a formula."""
    if cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def wants_csv(scope: dict[str, Any]) -> bool:
    """Is this a request for one of Datasette's CSV renderings (a table, view, canned query
    or SQL query with `.csv`)? Dots in names are tilde-encoded (~2E): this one is the format."""
    return str(scope.get("path", "")).endswith(".csv")


class CsvDefuser:
    """Wraps an ASGI `send`: the body of a CSV answer is rewritten record by record, each cell
    passed through `defuse`. Datasette streams CSV (possibly every row of a table), so records
    are cut as they arrive, quote-aware, and re-written with the same dialect Datasette uses
    (Python's csv defaults): a record with nothing to defuse comes out byte for byte."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.active = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self.in_quotes = False
        self.scanned = 0  # how much of `pending` has been scanned for record ends

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", [])]
            kinds = [v for k, v in headers if k.lower() == b"content-type"]
            self.active = message.get("status") == 200 and any(
                v.startswith((b"text/csv", b"text/plain")) for v in kinds)
            if self.active:  # the length changes; the body goes chunked
                message = dict(message, headers=[(k, v) for k, v in headers
                                                 if k.lower() != b"content-length"])
            await self.send(message)
            return
        if message["type"] != "http.response.body" or not self.active:
            await self.send(message)
            return
        more = bool(message.get("more_body", False))
        self.pending += self.decoder.decode(message.get("body", b""), final=not more)
        body = self._complete_records()
        if not more and self.pending:
            body += _rewrite(self.pending, terminated=False)
            self.pending = ""
        await self.send({"type": "http.response.body", "body": body.encode("utf-8"),
                         "more_body": more})

    def _complete_records(self) -> str:
        out: list[str] = []
        start = 0
        for match in re.finditer(r'["\n]', self.pending[self.scanned:]):
            at = self.scanned + match.start()
            if match.group() == '"':
                self.in_quotes = not self.in_quotes  # "" inside quotes toggles twice
            elif not self.in_quotes:
                out.append(_rewrite(self.pending[start:at + 1], terminated=True))
                start = at + 1
        self.pending = self.pending[start:]
        self.scanned = len(self.pending)
        return "".join(out)


def _rewrite(record: str, *, terminated: bool) -> str:
    rows = list(csv.reader(io.StringIO(record, newline="")))
    if not rows or not any(defuse(c) != c for row in rows for c in row):
        return record
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([defuse(c) for c in row])
    text = buffer.getvalue()
    return text if terminated else text.removesuffix("\r\n")
