"""Who may ask: the Host names this server answers (against DNS rebinding) and the Origin
of a POST (against another site's page sending its form here)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from urllib.parse import urlsplit

from starlette.requests import Request

from .errors import ApiError


def own_hosts(host: str) -> list[str]:
    """The Host headers this server answers, listening on `host`: this machine's own names,
    and `host` as given and as resolved. Another name is a site that DNS rebound to this
    address, whose page could then read the API (400). Any, on every interface (0.0.0.0, ::):
    the machine's names on the network are not known there."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            return ["*"]
    names = {"localhost", "127.0.0.1", "::1", host}
    with contextlib.suppress(OSError, UnicodeError):
        names |= {info[4][0] for info in socket.getaddrinfo(host, None)}
    return sorted(f"[{name}]" if ":" in name else name for name in names)  # as in a Host


def check_origin(request: Request) -> None:
    """403 for a POST from another site's page: a browser sends any page's form here (no
    CORS check stops one), but says whose page it is in Origin. curl sends none."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != \
            request.headers.get("host", "").lower():
        raise ApiError(403, f"this server answers its own page only, not from {origin[:60]}: "
                            f"open the page at its address")
