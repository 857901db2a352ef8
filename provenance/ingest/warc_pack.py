"""Writing a capture as WARC records (warcio) straight into a WACZ 1.1.1 package."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from provenance.ingest.capture_net import Hop
from provenance.ingest.flush_behind import FlushBehind
from provenance.ingest.stream_hash import StreamHasher, file_views

WARC_NAME = "data.warc"
WACZ_VERSION = "1.1.1"


class _Sha256Writer(WARCWriter):
    """warcio's writer with SHA-256 digests (the hash prov names items by), not SHA-1."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")

    def ensure_digest(self, record: Any, block: bool = True, payload: bool = True) -> None:
        if isinstance(record.raw_stream, _Live):
            return  # not yet arrived: its digests follow it, in a metadata record
        super().ensure_digest(record, block, payload)

    @staticmethod
    def _iter_stream(stream: Any) -> Iterator[bytes | memoryview]:
        # 1 MiB at a time, not warcio's 16 KiB: fewer, larger writes, each hashed by the
        # hashing threads with the GIL let go. A body file (a download, a screenshot) is
        # mapped, not read: its pages go to the WACZ and the hashers without being copied.
        if isinstance(stream, _Mapped):
            yield from stream.views()
            return
        if isinstance(stream, _Live):
            yield from stream.chunks
            return
        while buf := stream.read(_BLOCK):
            yield buf


_BLOCK = 1 << 20
# Room for the WARC's record headers, metadata and the HTTP headers beside the bodies.
_HEADROOM = 64 << 20


class _Mapped:
    """A file written by this capture and not changed again, given to warcio as a payload:
    read as memory views of its pages (stream_hash.file_views), not copied."""

    def __init__(self, path: str) -> None:
        self.path = path

    def views(self) -> Iterator[memoryview]:
        return file_views(self.path)


class _Live:
    """A response body still arriving, given to warcio as a payload: each chunk goes into the
    WARC as it comes off the network (and into the store's copy and the hashes beside it)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks


# Said in the metadata record that carries a streamed response's digests.
STREAMED_WHY = (
    "The response record this refers to was written into the WARC as its bytes arrived, so"
    " its header (which comes first) could not hold digests of bytes not yet received; WARC"
    " 1.1 makes WARC-Payload-Digest and WARC-Block-Digest optional. These are its digests,"
    " taken on the same bytes as they were written.")


def _frozen(b: Any) -> bytes | memoryview:
    """What a writer was given, without a copy when it cannot change (bytes, read-only
    views); StreamHasher needs chunks that stay as they were."""
    if isinstance(b, bytes) or (isinstance(b, memoryview) and b.readonly):
        return b
    return bytes(b)


def warc_digest(sha256_hex: str) -> str:
    return "sha256:" + base64.b32encode(bytes.fromhex(sha256_hex)).decode()


class _Counting(io.RawIOBase):
    """Passes writes on, counting bytes (record offsets for the index) and hashing them."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.count, self.digest = out, 0, StreamHasher("sha256")

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = _frozen(b)
        self.out.write(data)
        self.digest.feed(data)
        self.count += len(data)
        return len(data)


class _Sink(io.RawIOBase):
    """The WACZ file as zipfile sees it: written once, front to back, never sought in.

    zipfile then writes each member's CRC and sizes after its data (a data descriptor,
    standard ZIP) instead of seeking back to its header, so the WACZ's own SHA-256 and
    MD5 can be taken on the bytes as they are written and the file, the size of the
    video it holds, is not read again to hash it."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "wb")  # noqa: SIM115 - closed by finish()/abort
        self.count = 0
        self.hasher = StreamHasher("sha256", "md5")
        self.behind = FlushBehind(self.file.fileno())

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.count

    def seek(self, *_: Any) -> int:
        raise io.UnsupportedOperation("the WACZ is written front to back")

    def write(self, b: Any) -> int:
        data = _frozen(b)
        self.file.write(data)
        self.hasher.feed(data)
        self.count += len(data)
        self.behind.wrote(len(data))
        return len(data)

    def flush(self) -> None:
        self.file.flush()

    def finish(self) -> tuple[str, str, int]:
        """Flush the file to disk; its SHA-256, MD5 and size."""
        self.file.flush()
        self.behind.wait()
        os.fsync(self.file.fileno())
        self.file.close()
        sha, md5 = self.hasher.finish()
        return sha, md5, self.count

    def abort(self) -> None:
        self.behind.wait()
        self.file.close()
        self.hasher.finish()


@dataclass(frozen=True)
class Packed:
    """What writing a WACZ produced: the hashes of the WARC inside it and of the WACZ."""

    warc_sha256: str
    sha256: str
    md5: str
    size: int


@dataclass
class IndexEntry:
    url: str
    date: str  # WARC-Date
    offset: int
    length: int
    mime: str
    status: int | None
    digest: str
    record_id: str


@dataclass
class Wacz:
    """One WACZ being written: the WARC goes in first, the indexes and datapackage last."""

    path: str
    software: str
    # The bytes the WARC will hold, told in advance (bodies and files; record headers are
    # small): ZIP64 is used only when they may not fit in 4 GiB.
    expected_size: int = 0
    zf: zipfile.ZipFile = field(init=False)
    index: list[IndexEntry] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    _warc: Any = None
    _out: _Counting | None = None
    _writer: Any = None
    _resources: list[dict[str, Any]] = field(default_factory=list)
    _sink: _Sink = field(init=False)
    # Exchanges already in the WARC, by id(hop): None, or for a response written as it
    # arrived, its record ID and index entry until its digests follow (see exchange).
    _held: dict[int, tuple[Hop, tuple[str, IndexEntry] | None]] = field(default_factory=dict)
    _done: bool = False

    def __post_init__(self) -> None:
        self._sink = _Sink(self.path)
        self.zf = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_STORED, allowZip64=True)
        # WARCs are stored, not deflated (WACZ 1.1.1), so a replayer can seek into them.
        # A ZIP64 local header carries a 20-byte extra field that the central directory
        # entry of a member under 4 GiB does not: ReplayWeb.page takes a member's data
        # offset from the central directory when it has no extra field, and would then read
        # the WARC 20 bytes early. So ZIP64 only when it is needed, and then both have it.
        large = self.expected_size + _HEADROOM > zipfile.ZIP64_LIMIT
        self._warc = self.zf.open(f"archive/{WARC_NAME}", "w", force_zip64=large)
        self._out = _Counting(self._warc)
        self._writer = _Sha256Writer(self._out, gzip=False, warc_version="1.1")

    def _write(self, record: Any, index: IndexEntry | None = None) -> str:
        assert self._out is not None
        start = self._out.count
        self._writer.write_record(record)
        rid = str(record.rec_headers.get_header("WARC-Record-ID"))
        if index is not None:
            index.offset, index.length, index.record_id = start, self._out.count - start, rid
            self.index.append(index)
        return rid

    def warcinfo(self, info: dict[str, str]) -> None:
        self._write(self._writer.create_warcinfo_record(WARC_NAME, info))

    def _request(self, hop: Hop, date: str) -> str:
        req = self._writer.create_warc_record(
            hop.url, "request",
            http_headers=StatusAndHeaders(hop.request_line.decode(), hop.request_headers,
                                          is_http_request=True),
            warc_headers_dict={"WARC-Date": date, "WARC-IP-Address": hop.ip})
        return self._write(req)

    def exchange(self, hop: Hop, date: str) -> None:
        """A request record and its response record (body from the hop's temp file).

        A hop already written (stream_response) is not written again: a streamed response
        gets the record of its digests, then its TLS chain, as other responses have them."""
        if id(hop) in self._held:
            pending = self._held[id(hop)][1]
            self._held[id(hop)] = (hop, None)
            if pending is not None:
                self._digests_of(hop, date, *pending)
                if hop.tls:
                    self.metadata(hop.url, date, {"tls": hop.tls}, refers_to=pending[0])
            return
        self._held[id(hop)] = (hop, None)
        w = self._writer
        http = hop.http_headers()
        http.compute_headers_buffer(w.header_filter)
        req_id = self._request(hop, date)
        headers = {"WARC-Date": date, "WARC-IP-Address": hop.ip, "WARC-Concurrent-To": req_id}
        if hop.sha256:
            headers["WARC-Payload-Digest"] = warc_digest(hop.sha256)
        if hop.block_sha256 and http.headers_buff == hop.block_head:
            # Taken on the stream over these very header bytes and the body; were they
            # to differ, warcio computes the digest itself (reading the body again).
            headers["WARC-Block-Digest"] = warc_digest(hop.block_sha256)
        resp = w.create_warc_record(
            hop.url, "response", payload=_Mapped(hop.wire_path or hop.body_path or "/dev/null"),
            length=hop.block_size, http_headers=http, warc_headers_dict=headers)
        entry = IndexEntry(hop.url, date, 0, 0, _mime(hop.header("Content-Type")),
                           hop.status, warc_digest(hop.sha256 or _EMPTY), "")
        rid = self._write(resp, entry)
        if hop.tls:
            self.metadata(hop.url, date, {"tls": hop.tls}, refers_to=rid)

    def stream_response(self, hop: Hop, date: str, chunks: Iterator[bytes]) -> None:
        """The request, then the response written as its body arrives (`chunks`, which must
        be exactly hop.declared bytes). Its digests cannot be in its header, written before
        its body: `exchange(hop)`, once the body is in and hashed, writes them next."""
        assert hop.declared is not None
        req_id = self._request(hop, date)
        resp = self._writer.create_warc_record(
            hop.url, "response", payload=_Live(chunks), length=hop.declared,
            http_headers=hop.http_headers(),
            warc_headers_dict={"WARC-Date": date, "WARC-IP-Address": hop.ip,
                               "WARC-Concurrent-To": req_id})
        entry = IndexEntry(hop.url, date, 0, 0, _mime(hop.header("Content-Type")),
                           hop.status, "", "")
        rid = self._write(resp, entry)
        self._held[id(hop)] = (hop, (rid, entry))

    def _digests_of(self, hop: Hop, date: str, rid: str, entry: IndexEntry) -> None:
        assert hop.sha256 and hop.body_path
        entry.digest = warc_digest(hop.sha256)
        http = hop.http_headers()
        http.compute_headers_buffer(self._writer.header_filter)
        block = hop.block_sha256
        if http.headers_buff != hop.block_head or not block:
            # The hashed header bytes are not those written: the block read again (rare).
            digest = hashlib.sha256(http.headers_buff)
            for view in file_views(hop.body_path):
                digest.update(view)
            block = digest.hexdigest()
        doc = {"digests_of": rid, "WARC-Payload-Digest": warc_digest(hop.sha256),
               "WARC-Block-Digest": warc_digest(block), "payload_sha256": hop.sha256,
               "payload_md5": hop.md5, "payload_length": hop.size, "why": STREAMED_WHY}
        self.metadata(hop.url, date, doc, refers_to=rid, about=True)

    def resource(self, url: str, date: str, path: str, sha256: str, mime: str,
                 extra: dict[str, str] | None = None) -> str:
        """Bytes not fetched as a recorded exchange (a yt-dlp download, a screenshot)."""
        # A resource record's block is its payload: the file's SHA-256, taken when it was
        # hashed, is both digests, and warcio need not read the file once more to get it.
        headers = {"WARC-Date": date, "WARC-Payload-Digest": warc_digest(sha256),
                   "WARC-Block-Digest": warc_digest(sha256), **(extra or {})}
        rec = self._writer.create_warc_record(
            url, "resource", payload=_Mapped(path), length=os.path.getsize(path),
            warc_content_type=mime, warc_headers_dict=headers)
        entry = IndexEntry(url, date, 0, 0, mime, None, warc_digest(sha256), "")
        return self._write(rec, entry)

    def metadata(self, url: str, date: str, doc: dict[str, Any],
                 refers_to: str | None = None, about: bool = False) -> str:
        data = json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=1).encode()
        headers = {"WARC-Date": date}
        if refers_to:
            headers["WARC-Concurrent-To"] = refers_to
        if refers_to and about:  # more content of that record itself (WARC 1.1, 5.11)
            headers["WARC-Refers-To"] = refers_to
        rec = self._writer.create_warc_record(
            url, "metadata", payload=io.BytesIO(data), length=len(data),
            warc_content_type="application/json", warc_headers_dict=headers)
        return self._write(rec)

    def close(self, *, title: str, main_url: str, main_date: str, created: str,
              extras: dict[str, Any]) -> Packed:
        """Finish the WARC, write index, pages and datapackage; the hashes of both."""
        assert self._out is not None
        assert not any(pending for _, pending in self._held.values()), "digests not written"
        self._done = True
        self._warc.close()
        warc_sha = self._out.digest.finish()[0]
        self._resources.append({"name": WARC_NAME, "path": f"archive/{WARC_NAME}",
                                "hash": f"sha256:{warc_sha}", "bytes": self._out.count})
        self._member("indexes/index.cdx", cdxj(self.index))
        pages = [{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}]
        pages += self.pages
        self._member("pages/pages.jsonl",
                     "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages).encode())
        package = {
            "profile": "data-package",
            "wacz_version": WACZ_VERSION,
            "title": title,
            "software": self.software,
            "created": created,
            "mainPageURL": main_url,
            "mainPageDate": main_date,
            "resources": self._resources,
            **extras,
        }
        raw = json.dumps(package, indent=2, ensure_ascii=False).encode()
        self.zf.writestr("datapackage.json", raw)
        digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(raw).hexdigest()}
        self.zf.writestr("datapackage-digest.json", json.dumps(digest, indent=2))
        self.zf.close()
        sha, md5, size = self._sink.finish()
        return Packed(warc_sha, sha, md5, size)

    def abort(self) -> None:
        """Stop writing (the caller removes the file). Safe to call twice, or after close."""
        if self._done:
            return
        self._done = True
        try:
            # A WARC cut off mid-record may not close cleanly: what matters is the error
            # that stopped it, which the caller is raising.
            with contextlib.suppress(Exception):
                self._warc.close()
                self.zf.close()
        finally:
            if self._out is not None:
                self._out.digest.finish()
            self._sink.abort()

    def _member(self, name: str, data: bytes) -> None:
        self.zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        self._resources.append({"name": name.rsplit("/", 1)[-1], "path": name,
                                "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
                                "bytes": len(data)})


_EMPTY = hashlib.sha256(b"").hexdigest()


def _mime(content_type: str | None) -> str:
    return (content_type or "unk").split(";")[0].strip().lower() or "unk"


def surt(url: str) -> str:
    """The sort-friendly key replay tools index by: host reversed, then the path."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    labels = host.split(".")
    if not host.replace(".", "").isdigit():
        labels.reverse()
    key = ",".join(labels)
    if parts.port and parts.port not in (80, 443):
        key += f":{parts.port}"
    path = parts.path or "/"
    return f"{key}){path.lower()}" + (f"?{parts.query.lower()}" if parts.query else "")


def cdxj(entries: list[IndexEntry]) -> bytes:
    lines = []
    for e in entries:
        ts = "".join(ch for ch in e.date if ch.isdigit())[:14]
        doc: dict[str, Any] = {"url": e.url, "mime": e.mime, "digest": e.digest,
                               "length": str(e.length), "offset": str(e.offset),
                               "filename": WARC_NAME}
        if e.status is not None:
            doc["status"] = str(e.status)
        lines.append(f"{surt(e.url)} {ts} {json.dumps(doc, ensure_ascii=False)}\n")
    return "".join(sorted(lines)).encode()
