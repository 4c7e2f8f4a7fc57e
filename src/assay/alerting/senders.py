"""Sending one event to one target, once: an HTTP POST (urllib) or an SMTP session
(smtplib, STARTTLS), both from the standard library and imported when used.

Secrets are read from the environment here, at send time, and go nowhere
else: a failure's reason names what went wrong (`HTTP 500`, `connection
refused`, `OPS_URL is not set`), and any secret value that a library's message
might quote is blanked out of it before anyone records it.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from assay.alerting.formats import email_message, slack_payload, webhook_payload
from assay.automation.alerts import Email, Slack, Webhook
from assay.version import __version__

if TYPE_CHECKING:
    import urllib.request
    from collections.abc import Iterable

    from assay.alerting.events import AlertEvent
    from assay.automation.alerts import Target

_BODY_CHARS = 80  # of an error response, in the reason


class DeliveryFailure(Exception):
    """One attempt failed: `reason` is one line with no secret in it; `retryable` is
    False when trying again at once cannot help (a variable not set, HTTP 404)."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def send(target: Target, event: AlertEvent, *, project: str, timeout_s: float) -> None:
    """Deliver `event` to `target` once, waiting at most about `timeout_s` per
    network operation.

    Raises:
        DeliveryFailure: it was not delivered (the reason is safe to record).
    """
    secrets: list[str] = []
    try:
        if isinstance(target, Webhook):
            url = _secret(target.url, target.url_env, secrets)
            headers = {h: _secret(None, env, secrets) for h, env in target.headers_env.items()}
            _post_json(url, webhook_payload(event, project), headers, timeout_s)
        elif isinstance(target, Slack):
            url = _secret(target.url, target.url_env, secrets)
            _post_json(url, slack_payload(event, project), {}, timeout_s)
        elif isinstance(target, Email):
            password = None
            if target.password_env is not None:
                password = _secret(None, target.password_env, secrets)
            _send_mail(target, event, project, password, timeout_s)
        else:  # pragma: no cover - Alert() accepts no other target
            raise DeliveryFailure(f"cannot send to a {type(target).__name__}", retryable=False)
    except DeliveryFailure as failure:
        failure.reason = scrub(failure.reason, secrets)
        raise
    except Exception as exc:  # a library's surprise: reported, never raised into a run
        raise DeliveryFailure(scrub(_short(exc), secrets)) from None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and the part of a URL after its host) blanked out."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
        if "://" in secret:
            head = secret.split("://", 1)[1].split("/", 1)
            if len(head) == 2 and head[1]:
                text = text.replace(head[1], "***")
    return text


def _secret(literal: str | None, env: str | None, secrets: list[str]) -> str:
    if literal is not None:
        secrets.append(literal)
        return literal
    assert env is not None
    value = os.environ.get(env, "").strip()
    if not value:
        raise DeliveryFailure(f"the environment variable {env} is not set", retryable=False)
    secrets.append(value)
    return value


def _no_redirects() -> urllib.request.BaseHandler:
    """A redirect is reported (as the HTTP error it is), not followed: urllib would
    turn the POST into a GET, dropping the event, and send the headers wherever
    it points."""
    import urllib.request

    class Refuse(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    return Refuse()


def _post_json(url: str, payload: object, headers: dict[str, str], timeout_s: float) -> None:
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise DeliveryFailure("the URL is not http:// or https://", retryable=False)
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"assay/{__version__}",
            **headers,
        },
    )
    opener = urllib.request.build_opener(_no_redirects())
    try:
        with opener.open(request, timeout=timeout_s) as response:
            response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        body = ""
        try:
            body = " ".join(exc.read(_BODY_CHARS * 4).decode(errors="replace").split())
        except Exception:  # the body is a courtesy
            body = ""
        detail = f": {body[:_BODY_CHARS]}" if body else ""
        raise DeliveryFailure(
            f"HTTP {exc.code} {exc.reason}{detail}",
            retryable=exc.code >= 500 or exc.code in (408, 429),
        ) from None
    except urllib.error.URLError as exc:
        raise DeliveryFailure(_network_reason(exc.reason, timeout_s)) from None
    except OSError as exc:  # a timeout while reading the answer, a reset
        raise DeliveryFailure(_network_reason(exc, timeout_s)) from None


def _send_mail(
    target: Email, event: AlertEvent, project: str, password: str | None, timeout_s: float
) -> None:
    import smtplib
    import ssl

    message = email_message(event, project, target)
    try:
        with smtplib.SMTP(target.host, target.port, timeout=timeout_s) as smtp:
            smtp.ehlo()
            if target.starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryFailure(
                        f"{target.host}:{target.port} does not offer STARTTLS (for a relay "
                        "without TLS, say starttls=False)",
                        retryable=False,
                    )
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if target.username is not None:
                smtp.login(target.username, password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryFailure(
            f"{target.host} refused the login of {target.username!r} ({exc.smtp_code})",
            retryable=False,
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise DeliveryFailure(
            f"{target.host} refused the recipients {refused}", retryable=False
        ) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        raise DeliveryFailure(
            f"{target.host} answered {exc.smtp_code} {' '.join(text.split())[:_BODY_CHARS]}",
            retryable=exc.smtp_code >= 400 and exc.smtp_code < 500,
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryFailure(
            f"the TLS certificate of {target.host} is not trusted ({exc.verify_message})",
            retryable=False,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailure(_network_reason(exc, timeout_s)) from None


def _network_reason(error: object, timeout_s: float) -> str:
    import socket
    import ssl

    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the server up?)"
    if isinstance(error, TimeoutError | socket.timeout):
        return f"no answer within {timeout_s:g} s"
    if isinstance(error, socket.gaierror):
        return "cannot resolve the server's host name"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the server's TLS certificate is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or error})"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "the server closed the connection"
    if isinstance(error, BaseException):
        return _short(error)
    return str(error)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
