"""Fetching one URL for a capture: redirects, limits, server address and TLS chain, as recorded."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from provenance.errors import BadInput
from provenance.ingest.chunked import ChunkError, dechunk
from provenance.ingest.flush_behind import FlushBehind
from provenance.ingest.stream_hash import StreamHasher

REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 1 << 20
# Offered each response once its headers and first bytes are in, with the hops fetched
# before it: a consumer of the body's chunks (capture: its WARC record, written as the bytes
# arrive), or None. Offered only bodies of a declared length that arrive as sent.
Tee = Callable[["Hop", list["Hop"]], Callable[[Iterator[bytes]], None] | None]


@dataclass(frozen=True)
class Limits:
    """What one capture may cost: bytes per response, seconds, redirects, media per page."""

    max_size: int = 2 * 1024**3
    timeout: float = 30.0  # seconds without a byte (connect or read)
    total_timeout: float = 3600.0  # seconds for one whole response
    max_redirects: int = 10
    max_media: int = 20


@dataclass
class Hop:
    """One request and its response, with where the answer came from."""

    url: str
    request_line: bytes
    request_headers: list[tuple[str, str]]
    status: int
    reason: str
    protocol: str
    headers: list[tuple[str, str]]
    ip: str
    port: int
    tls: dict[str, Any] | None
    body_path: str | None = None  # temp file with the body (deleted by Fetched.cleanup)
    size: int = 0
    sha256: str | None = None
    md5: str | None = None  # also computed on the stream, so the body is not re-read to hash
    head: bytes = b""
    # The WARC response record's block is these HTTP header bytes (as warcio writes them)
    # then the body: its SHA-256 is taken on the stream too, so the WARC writer need not
    # read the body a second time for the WARC-Block-Digest.
    block_head: bytes = b""
    block_sha256: str | None = None
    declared: int | None = None  # Content-Length, when the body came as sent (not chunked)
    streamed: bool = False  # the body also went to a Tee's consumer as it arrived
    # A chunked response: the bytes as they came over the wire, chunk sizes, extensions
    # and trailer included (temp file; deleted by Fetched.cleanup). The WARC record holds
    # these, as WARC 1.1 asks of a response record; body_path holds the payload they frame.
    wire_path: str | None = None
    wire_size: int = 0

    @property
    def block_size(self) -> int:
        """The bytes of the WARC record's HTTP body: the wire bytes of a chunked response."""
        return self.wire_size if self.wire_path else self.size

    def http_headers(self) -> Any:
        """The response's status line and headers as warcio writes them in the WARC."""
        from warcio.statusandheaders import StatusAndHeaders

        return StatusAndHeaders(f"{self.status} {self.reason}", self.headers,
                                protocol=self.protocol)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Fetched:
    hops: list[Hop] = field(default_factory=list)

    @property
    def final(self) -> Hop:
        return self.hops[-1]

    def cleanup(self) -> None:
        for hop in self.hops:
            for path in (hop.body_path, hop.wire_path):
                if path and os.path.exists(path):
                    os.unlink(path)
            hop.body_path = hop.wire_path = None


def check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadInput(url, "only http:// and https:// URLs can be captured"
                       + (" (no file:// or other schemes)" if parts.scheme else ""))


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def lazy_tls_context(ca_file: str | None) -> Callable[[], ssl.SSLContext]:
    """The context, made on first use: loading the system's trust store takes 0.05-0.2 s,
    which a capture of plain http:// URLs need not spend. A --ca-file is read at once, so a
    bad one is reported before anything is fetched."""
    made = [tls_context(ca_file)] if ca_file else []

    def get() -> ssl.SSLContext:
        if not made:
            made.append(tls_context(None))
        return made[0]

    return get


def _tls_of(sock: Any) -> dict[str, Any] | None:
    if not isinstance(sock, ssl.SSLSocket):
        return None
    chain: list[str] = []
    obj = getattr(sock, "_sslobj", None)
    # Python 3.13 makes get_verified_chain public; 3.11 and 3.12 have it on the C object.
    getter = getattr(sock, "get_verified_chain", None) or getattr(obj, "get_verified_chain", None)
    if getter is not None:
        for cert in getter() or []:
            der = cert.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            chain.append(ssl.DER_cert_to_PEM_cert(der))
    if not chain:
        der = sock.getpeercert(binary_form=True)
        if der:
            chain.append(ssl.DER_cert_to_PEM_cert(der))
    peer = sock.getpeercert() or {}
    return {
        "version": sock.version(),
        "cipher": (sock.cipher() or ("",))[0],
        "subject": _name(peer.get("subject")),
        "issuer": _name(peer.get("issuer")),
        "not_before": peer.get("notBefore"),
        "not_after": peer.get("notAfter"),
        "chain_pem": chain,
        "chain_sha256": [hashlib.sha256(ssl.PEM_cert_to_DER_cert(p)).hexdigest() for p in chain],
    }


def _name(rdns: Any) -> str | None:
    if not rdns:
        return None
    return ", ".join(f"{k}={v}" for rdn in rdns for k, v in rdn)


def fetch(
    url: str,
    limits: Limits,
    *,
    user_agent: str,
    context: ssl.SSLContext | Callable[[], ssl.SSLContext],
    workdir: str,
    progress: Callable[[int, int | None], None] | None = None,
    tee: Tee | None = None,
    referer: str | None = None,
) -> Fetched:
    """GET `url`, following redirects up to the cap, each hop's body in a temp file.

    Raises BadInput naming the URL and the reason (timeout, too large, scheme, network);
    on failure every temp file written is removed.
    """
    done = Fetched()
    current = url
    try:
        while True:
            check_scheme(current)
            hop = _one(current, limits, user_agent, context, workdir, progress,
                       (lambda h: tee(h, list(done.hops))) if tee else None, referer)
            done.hops.append(hop)
            if hop.status in REDIRECTS and hop.header("Location"):
                if len(done.hops) > limits.max_redirects:
                    raise BadInput(url, f"more than {limits.max_redirects} redirects")
                current = urljoin(current, hop.header("Location") or "")
                continue
            return done
    except BaseException:
        done.cleanup()
        raise


def _one(url: str, limits: Limits, user_agent: str,
         context: ssl.SSLContext | Callable[[], ssl.SSLContext], workdir: str,
         progress: Callable[[int, int | None], None] | None,
         tee: Callable[[Hop], Callable[[Iterator[bytes]], None] | None] | None,
         referer: str | None = None) -> Hop:
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme.lower() == "https":
        conn = http.client.HTTPSConnection(
            host, parts.port, timeout=limits.timeout,
            context=context if isinstance(context, ssl.SSLContext) else context())
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=limits.timeout)
    headers = [("Host", parts.netloc), ("User-Agent", user_agent), ("Accept", "*/*"),
               ("Accept-Encoding", "identity"), ("Connection", "close")]
    if referer:
        headers.append(("Referer", referer))
    try:
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            raise BadInput(url, f"TLS certificate not trusted ({exc.verify_message}); pass"
                           " --ca-file with the issuing certificate if you trust it") from None
        sock = conn.sock
        ip, port = sock.getpeername()[:2]
        tls = _tls_of(sock)
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        hop = Hop(url=url, request_line=f"GET {path} HTTP/1.1".encode(), request_headers=headers,
                  status=resp.status, reason=resp.reason,
                  protocol="HTTP/1.1" if resp.version == 11 else "HTTP/1.0",
                  headers=list(resp.getheaders()), ip=ip, port=port, tls=tls)
        declared = resp.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > limits.max_size:
            raise BadInput(url, f"response is {int(declared):,} bytes, over --max-size"
                           f" {limits.max_size:,}")
        try:
            _read_body(resp, hop, limits, workdir, progress,
                       int(declared) if declared and declared.isdigit() else None, tee)
        finally:
            resp.close()
        return hop
    except TimeoutError:
        raise BadInput(url, f"timed out: no data for {limits.timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise BadInput(url, f"cannot fetch ({exc.__class__.__name__}: {exc})") from None
    finally:
        conn.close()


def _read_body(resp: http.client.HTTPResponse, hop: Hop, limits: Limits, workdir: str,
               progress: Callable[[int, int | None], None] | None, total: int | None,
               tee: Callable[[Hop], Callable[[Iterator[bytes]], None] | None] | None) -> None:
    fd, path = tempfile.mkstemp(prefix="body-", dir=workdir)
    hop.body_path = path
    # SHA-256 and MD5 are computed on the bytes as they arrive, in a second thread (hashlib
    # lets go of the GIL), so the body is hashed while it downloads and never re-read to hash.
    hasher = StreamHasher("sha256", "md5")
    block = StreamHasher("sha256")
    hop.block_head = hop.http_headers().to_ascii_bytes()
    block.feed(hop.block_head)
    hop.declared = None if resp.chunked else resp.length
    wire: Any = None
    if resp.chunked:
        # The framing is read here, not by http.client (which would hand over the payload
        # alone): the WARC record is to hold the response as received.
        wire_fd, hop.wire_path = tempfile.mkstemp(prefix="wire-", dir=workdir)
        wire = os.fdopen(wire_fd, "wb")
    behind = FlushBehind(fd)

    def on_wire(data: bytes) -> None:
        wire.write(data)
        block.feed(data)
        hop.wire_size += len(data)

    try:
        with os.fdopen(fd, "wb") as out:

            def kept() -> Iterator[bytes]:
                for chunk in _chunks(resp, hop, limits, on_wire if wire else None):
                    hasher.feed(chunk)
                    if wire is None:
                        block.feed(chunk)
                    out.write(chunk)
                    behind.wrote(len(chunk))
                    if progress:
                        progress(len(chunk), total)
                    yield chunk

            chunks = kept()
            first = next(chunks, b"")
            hop.head = first[:4096]
            # Known length, bytes as sent (not de-chunked): they may go straight on.
            consumer = tee(hop) if tee and hop.declared is not None else None
            rest = itertools.chain([first] if first else [], chunks)
            if consumer is not None:
                hop.streamed = True
                consumer(rest)
            for _ in rest:  # what a consumer left (none), or the whole body without one
                pass
            behind.wait()
    finally:
        behind.wait()
        if wire is not None:
            wire.close()
        hop.sha256, hop.md5 = hasher.finish()
        hop.block_sha256 = block.finish()[0]


def _chunks(resp: http.client.HTTPResponse, hop: Hop, limits: Limits,
            on_wire: Callable[[bytes], None] | None = None) -> Iterator[bytes]:
    """The body as it arrives, checked against the limits and against its Content-Length.
    A chunked body's payload, its wire bytes handed to `on_wire` (see dechunk)."""
    started = time.monotonic()
    if resp.chunked and on_wire is not None:
        try:
            for chunk in dechunk(resp.fp, on_wire):
                hop.size += len(chunk)
                _within(hop, limits, started)
                yield chunk
        except ChunkError as exc:
            raise BadInput(hop.url, f"{exc}; nothing was recorded") from None
        return
    declared = None if resp.chunked else resp.length
    # A body of known length is read from the connection itself: http.client would close
    # it on the last declared byte, and with it any surplus the server sent (_surplus).
    fp: Any = resp.fp if declared is not None else None
    while True:
        # Whole 1 MiB chunks (read, not read1): what arrives in 64-256 KiB pieces would
        # otherwise wake the six hashing threads, the writes and the CRC four times as
        # often, which on a busy machine costs the download its pace.
        if fp is not None and declared is not None:
            chunk = fp.read(min(CHUNK, declared - hop.size)) if declared > hop.size else b""
        else:
            chunk = resp.read(CHUNK)
        if not chunk:
            break
        hop.size += len(chunk)
        _within(hop, limits, started)
        yield chunk
    # http.client ends a body cut short without an error: a truncated download must not
    # pass for the file. Nor a body longer than declared (a server at odds with itself).
    if declared is not None and hop.size < declared:
        raise BadInput(hop.url, f"the server sent {hop.size:,} of the {declared:,} bytes its"
                       " Content-Length declared (connection closed early); nothing was"
                       " recorded")
    if declared is not None and _surplus(resp):
        raise BadInput(hop.url, f"the server sent more than the {declared:,} bytes its"
                       " Content-Length declared; nothing was recorded")


def _within(hop: Hop, limits: Limits, started: float) -> None:
    if hop.size > limits.max_size:
        raise BadInput(hop.url, f"response is over --max-size"
                       f" ({limits.max_size:,} bytes); stopped reading")
    if time.monotonic() - started > limits.total_timeout:
        raise BadInput(hop.url, f"timed out: response took over"
                       f" {limits.total_timeout:g} s")


def _surplus(resp: http.client.HTTPResponse) -> bool:
    """Bytes after the declared body already here (not waited for: a server that keeps the
    connection open despite `Connection: close` must not cost a timeout)."""
    fp: Any = resp.fp
    if fp is None:
        return False
    try:
        fp.raw._sock.settimeout(0)
        return bool(fp.peek(1))
    except (OSError, ValueError, AttributeError):
        return False
