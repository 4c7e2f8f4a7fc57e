"""Who may look and who may act: a token when the UI listens beyond localhost,
and POST actions that a page of another site cannot forge.

- **Token**: `assay ui --host 0.0.0.0` refuses to start without one (`--token` or
  `ASSAY_UI_TOKEN`). A browser presents it once (`?token=...`, or an
  `Authorization: Bearer` header from a proxy or a script) and gets it back as an
  HttpOnly, SameSite=Strict cookie.
- **Cross-site requests**: every POST must come from a page of this UI: its
  `Origin` (else `Referer`) must be this host, and its form must carry the
  session's CSRF value (the double-submit pattern: a cookie the page echoes in a
  hidden field, which another site can neither read nor set).
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "assay_token"
CSRF_COOKIE = "assay_csrf"
CSRF_FIELD = "csrf"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_local(host: str) -> bool:
    return host in LOCAL_HOSTS


def new_secret() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """ASGI middleware: the token (when one is set) on every request, and the origin
    and CSRF value on every POST. Sets the CSRF cookie a page's forms echo."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        cookies = _cookies(headers.get("cookie", ""))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        set_cookies: list[str] = []
        if self.token is not None and scope["path"] != "/healthz":
            given = _bearer(headers.get("authorization", "")) or cookies.get(TOKEN_COOKIE)
            from_query = (query.get("token") or [None])[0]
            if from_query is not None and _same(from_query, self.token):
                given = from_query
                set_cookies.append(_cookie(TOKEN_COOKIE, self.token))
            if given is None or not _same(given, self.token):
                await _refuse(
                    send,
                    401,
                    "This assay UI needs its token: open it with ?token=... "
                    "(the value given to `assay ui --token` or ASSAY_UI_TOKEN).",
                )
                return
        csrf = cookies.get(CSRF_COOKIE)
        if csrf is None:
            csrf = new_secret()
            set_cookies.append(_cookie(CSRF_COOKIE, csrf, http_only=False))
        scope.setdefault("state", {})["csrf"] = csrf
        if scope["method"] == "POST":
            problem = _cross_site(headers, scope)
            if problem is None:
                body, receive = await _buffered(receive)
                form = parse_qs(body.decode("utf-8", "replace"))
                echoed = (form.get(CSRF_FIELD) or [""])[0] or headers.get("x-csrf-token", "")
                if CSRF_COOKIE not in cookies or not _same(echoed, cookies[CSRF_COOKIE]):
                    problem = "the form's CSRF value does not match this session's: reload the page"
            if problem is not None:
                await _refuse(send, 403, f"Refused: {problem}.")
                return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and set_cookies:
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    *((b"set-cookie", c.encode("latin-1")) for c in set_cookies),
                ]
            await send(message)

        await self.app(scope, receive, sending)


def _cross_site(headers: dict[str, str], scope: Scope) -> str | None:
    """Why a POST looks cross-site (None: it comes from this host)."""
    host = headers.get("host", "")
    source = headers.get("origin") or headers.get("referer")
    if not source:
        return "a POST without an Origin or Referer header"
    found = urlsplit(source).netloc
    if found != host:
        return f"a POST from {found or source!r}, not from this UI ({host})"
    return None


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The request body, and a `receive` that gives it again to the app."""
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, again


async def _refuse(send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _cookies(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value
    return found


def _cookie(name: str, value: str, *, http_only: bool = True) -> str:
    return f"{name}={value}; Path=/; SameSite=Strict" + ("; HttpOnly" if http_only else "")


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
