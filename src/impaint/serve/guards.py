"""Who may ask: the Host names this server answers (against DNS rebinding) and the Origin
of a POST (against another site's page sending its form here)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError, error_response


def own_hosts(host: str) -> list[str]:
    """The names (of a Host header, less its port) this server answers, listening on `host`:
    this machine's own names, and `host` as given and as resolved. Another name is a site
    that DNS rebound to this address, whose page could then read the API (400). Any, on
    every interface (0.0.0.0, ::): the machine's names on the network are not known there."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            return ["*"]
    names = {"localhost", "127.0.0.1", "::1", host}
    with contextlib.suppress(OSError, UnicodeError):
        names |= {info[4][0] for info in socket.getaddrinfo(host, None)}
    return sorted(names)


class HostCheck:
    """Answers only the Host names `allowed` (`own_hosts`; "*": any). Another is a 400 in the
    API's one-line JSON that says which address to open: Starlette's TrustedHostMiddleware
    answers a bare `Invalid host header`, which is what someone who typed the machine's
    network name (served on its address, not on every interface) would have read."""

    def __init__(self, app: ASGIApp, allowed: list[str]):
        self.app, self.allowed = app, {a.lower() for a in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "*" not in self.allowed:
            host, name = Headers(scope=scope).get("host", ""), ""
            # a name and a port only: "evil.example@localhost" or "localhost/x" is no name
            if not any(c in host for c in "@/?#\\"):
                with contextlib.suppress(ValueError):  # an unclosed [: no name
                    name = urlsplit(f"//{host}").hostname or ""
            if name not in self.allowed:
                shown = repr(host[:60]) if host else "a request without one"
                at, port = scope.get("server") or ("127.0.0.1", 8000)  # the socket's address
                at = f"[{at}]" if ":" in at else at
                await error_response(400, f"this server answers its own names only, not "
                                          f"{shown}: open the page at http://{at}:{port} (or "
                                          f"serve with --host 0.0.0.0 to answer any name)"
                                     )(scope, receive, send)
                return
        await self.app(scope, receive, send)


def check_origin(request: Request) -> None:
    """403 for a POST from another site's page: a browser sends any page's form here (no
    CORS check stops one), but says whose page it is in Origin. curl sends none."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != \
            request.headers.get("host", "").lower():
        raise ApiError(403, f"this server answers its own page only, not from {origin[:60]}: "
                            f"open the page at its address")
