"""`prov capture URL...`: fetch pages and their media from the web with a collection record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from provenance.cli.analyse import AnalyseOpt, When, after_capture
from provenance.cli.common import GLOBALS, JsonOpt, boundary, emit_json, err, say, short


def _size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    t = text.strip().upper().removesuffix("B")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a size; write e.g. 500M or 2G") from None


@boundary
def capture(
    urls: Annotated[list[str], typer.Argument(help="http:// or https:// URLs to capture.")],
    case: Annotated[str | None, typer.Option(help="Case (investigation) name.")] = None,
    title: Annotated[str | None, typer.Option(help="A title for this capture.")] = None,
    note: Annotated[str | None, typer.Option(help="A note on this capture.")] = None,
    persona: Annotated[str | None, typer.Option(
        help="The research persona (account) the capture was made as.")] = None,
    vpn: Annotated[str | None, typer.Option(
        help="The VPN or exit point in use, as you would state it.")] = None,
    max_size: Annotated[str, typer.Option(
        help="Largest response kept, per download (e.g. 500M, 2G).")] = "2G",
    timeout: Annotated[float, typer.Option(
        help="Seconds without data before a download is given up.")] = 30.0,
    max_media: Annotated[int, typer.Option(help="Most media fetched from one page.")] = 20,
    max_redirects: Annotated[int, typer.Option(help="Most redirects followed.")] = 10,
    ca_file: Annotated[Path | None, typer.Option(
        "--ca-file", help="Also trust the CA certificates in this PEM file.")] = None,
    no_render: Annotated[bool, typer.Option(
        "--no-render", help="Skip the Chromium screenshot and PDF.")] = False,
    analyse: AnalyseOpt = When.background,
    as_json: JsonOpt = False,
) -> None:
    """Capture web pages: WACZ archive, media, screenshot and PDF, with a collection record.

    This is the one command that goes to the network (every other command works offline).
    Each URL is fetched with its redirects, request and response headers, the server's
    address and TLS certificate chain, and archived as a WACZ (item kind `archive`); the
    media on the page are fetched (yt-dlp) and registered with sightings; a screenshot and
    PDF are made when Chromium is installed. A failed URL records nothing.

    A capture is secured (hashes, stored copies, WACZ, collection record: one transaction)
    before the videos, sounds and documents it brought are analysed: see --analyse and
    `prov analyse`.
    """
    from provenance.errors import ProvError
    from provenance.ingest import capture as core
    from provenance.ingest.capture_net import Limits

    limits = Limits(max_size=_size(max_size), timeout=timeout, max_media=max_media,
                    max_redirects=max_redirects)
    opts = core.CaptureOptions(case=case, title=title, note=note, persona=persona, vpn=vpn,
                               limits=limits, ca_file=str(ca_file) if ca_file else None,
                               render=not no_render)
    conn = GLOBALS.open()
    results: list[Any] = []
    failed = False
    said: set[str] = set()
    for url in urls:
        bar = _Bar(url)
        try:
            r = core.capture(conn, url, opts, by=GLOBALS.investigator, progress=bar.step)
        except ProvError as exc:
            bar.finish()
            err(f"error: {exc}")
            failed = True
            results.append({"url": url, "status": "error", "error": str(exc)})
            continue
        bar.finish()
        for n in r.notes:
            if n.startswith("no screenshot"):
                if n in said:
                    continue  # said once per run
                said.add(n)
            err(f"notice: {url}: {n}")
        results.append(r.to_json())
        if not as_json:
            _show(r)
    pending = [sha for r in results for sha in r.get("analysis_pending", [])]
    done = after_capture(conn, pending, analyse, as_json=as_json)
    if as_json:
        for r in results:
            if r.get("analysis_pending"):
                r["analysis"] = {k: v for k, v in done.items() if k != "pending"}
        emit_json(results)
    if failed or done.get("failed"):
        raise typer.Exit(1)


def _show(r: Any) -> None:
    head = "gone at source" if r.status == "gone" else "captured"
    say(f"{head} {r.url}  (capture {r.capture}, archive {short(r.archive)})")
    for f in r.files:
        if f["status"] == "gone":
            say(f"  gone     {'-':<12}  {f['role']:<10} {f['url']}")
        else:
            say(f"  {f['role']:<8} {short(f['sha256'])}  {f.get('kind') or '-':<10} {f['url']}")
    for c in r.changes:
        say(f"  changed: {c}")


class _Bar:
    """A progress bar per download, on a terminal only."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.total: int | None = None
        self.tty = sys.stderr.isatty()

    def step(self, n: int, total: int | None) -> None:
        if not self.tty:
            return
        import click

        if self.bar is None or total != self.total:
            self.finish()
            self.total = total
            self.bar = click.progressbar(length=total or 0, label=self.label[:40],
                                         file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(n)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
