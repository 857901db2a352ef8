"""The collection environment a capture records: machine, clock, network settings, tools."""

from __future__ import annotations

import functools
import os
import platform
import socket
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@functools.cache  # read once a process: the scan of installed packages is 10-60 ms each
def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def user_agent() -> str:
    return f"prov/{version('prov')} (evidence capture)"


def local_addresses() -> list[str]:
    """This machine's own addresses, as its resolver gives them for its host name."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    except OSError:
        pass
    return sorted(found)


def environment(ca_file: str | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    local = now.astimezone()
    proxies = {k: os.environ.get(k) or os.environ.get(k.lower()) for k in PROXY_VARS}
    return {
        "user_agent": user_agent(),
        "clock": {"utc": now.isoformat().replace("+00:00", "Z"),
                  "local": local.isoformat(), "zone": local.tzname(),
                  "utc_offset": local.strftime("%z")},
        "machine": {"hostname": socket.gethostname(), "system": platform.platform(),
                    "local_addresses": local_addresses()},
        "proxies": {k: v for k, v in proxies.items() if v},
        "ca_file": ca_file,
        "tools": {"prov": version("prov"), "yt_dlp": version("yt-dlp"),
                  "warcio": version("warcio"), "python": platform.python_version()},
    }
