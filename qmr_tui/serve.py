"""`qmr serve-tui`: textual-serve's aiohttp server with the guards a browser-reachable TUI needs.

textual-serve starts one TUI process per websocket and trusts whoever connects. Any web page open in
the researcher's browser can open a websocket to a loopback port (browsers do not apply the same-origin
policy to websockets), and an SSH-forwarded port is loopback too, so this subclass adds:

- a random token (as Jupyter does) in the URL it prints: the page needs it, and the websocket's path
  carries it (`/ws/<token>`), compared in constant time;
- an Origin check on the websocket: the Origin must be present and name the host the request was sent
  to, and that host must be one the server listens as (localhost names, or --host), which also stops
  DNS rebinding;
- static files without directory listings;
- a cap on concurrent sessions (each one is a TUI process), answered with 503 beyond it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
DEFAULT_MAX_SESSIONS = 4


def new_token() -> str:
    return secrets.token_urlsafe(24)


class GuardedServer(Server):
    """A textual-serve Server that needs a token and a same-origin websocket, and caps sessions."""

    def __init__(self, command: str, host: str = "localhost", port: int = 8000, *, token: str | None = None,
                 max_sessions: int = DEFAULT_MAX_SESSIONS, title: str | None = None, public_url: str | None = None):
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.token = token or new_token()
        self.max_sessions = max_sessions
        self.sessions = 0
        self.allowed_hosts = {h.lower() for h in (*LOOPBACK_NAMES, host, urlsplit(self.public_url).hostname or "")}

    @property
    def url(self) -> str:
        """What to open in the browser: the page with the token."""
        return f"{self.public_url}/?token={self.token}"

    # -- the aiohttp app ---------------------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([
            web.get("/", self.guarded_index, name="index"),
            web.get("/ws/{token}", self.guarded_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, show_index=False, name="static"),
        ])
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def on_startup(self, app: web.Application) -> None:
        self.console.print(f"qmr tui in the browser: [bold]{self.url}[/]  (Ctrl+C to stop)", highlight=False)

    # -- checks ------------------------------------------------------------------------------

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def origin_ok(self, request: web.Request) -> bool:
        """Origin present, same host:port the request went to, and that host one we serve as."""
        origin = request.headers.get("Origin")
        if not origin:
            return False
        parts = urlsplit(origin)
        host = (request.host or "").lower()
        hostname = urlsplit(f"//{host}").hostname or ""
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host and hostname in self.allowed_hosts

    # -- handlers ----------------------------------------------------------------------------

    async def guarded_index(self, request: web.Request) -> web.StreamResponse:
        if not self.token_ok(request.query.get("token")):
            raise web.HTTPForbidden(text="qmr serve-tui: open the URL with ?token=... that `qmr serve-tui` printed\n")
        response = aiohttp_jinja2.render_template("app_index.html", request, self._index_context(request))
        response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of Referer headers
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def _index_context(self, request: web.Request) -> dict[str, Any]:
        ws_path = request.app.router["websocket"].url_for(token=self.token)
        static_path = request.app.router["static"].url_for(filename="/")
        scheme = "wss" if self.public_url.startswith("https") else "ws"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}:{self.public_url.split(':', 1)[1]}{ws_path}",
            "config": {"static": {"url": f"{self.public_url}{static_path}".rstrip("/") + "/"}},
            "application": {"name": self.title},
        }

    async def guarded_websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.token_ok(request.match_info.get("token")):
            raise web.HTTPForbidden(text="bad token\n")
        if not self.origin_ok(request):
            raise web.HTTPForbidden(text="cross-origin websocket refused\n")
        if self.sessions >= self.max_sessions:
            raise web.HTTPServiceUnavailable(text=f"{self.max_sessions} sessions are open already (--max-sessions)\n")
        self.sessions += 1
        try:
            return await self.handle_websocket(request)
        finally:
            self.sessions -= 1
