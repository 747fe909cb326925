"""Security headers on every response: a strict Content-Security-Policy, nosniff, no framing.

The console is plain files under ``'self'`` with no inline script or style, so its policy
allows nothing else: a value from the data that slips into the page as markup still cannot
run (defence in depth behind the console building its DOM with ``textContent``). Swagger UI
and ReDoc (``/docs``, ``/redoc``) start themselves with an inline script, so those two pages
alone may run inline script; they show no data, only the API's schema.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "CONTENT_SECURITY_POLICY"]

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                           "form-action 'self'")
_DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                "frame-ancestors 'none'")
_DOCS = ("/docs", "/redoc")
_COMMON = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer"), (b"cross-origin-opener-policy", b"same-origin")]


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task or body buffering, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = _DOCS_POLICY if scope["path"].startswith(_DOCS) else CONTENT_SECURITY_POLICY
        added = [(b"content-security-policy", policy.encode()), *_COMMON]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
