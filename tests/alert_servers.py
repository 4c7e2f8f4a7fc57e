"""Real servers on 127.0.0.1 for the alert tests: an HTTP receiver (webhooks, Slack)
and an SMTP server (aiosmtpd, with STARTTLS and a login when asked)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A port nothing listens on (bound, then let go): a target that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON


@dataclass
class HttpReceiver:
    """Answers each POST with the next status of `statuses` (the last one repeats),
    after `delay_s`; keeps what it received."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                receiver.received.append(Received(self.path, dict(self.headers), body))
                time.sleep(receiver.delay_s)
                status = receiver.statuses[min(len(receiver.answered), len(receiver.statuses) - 1)]
                receiver.answered.append(status)
                self.send_response(status)
                self.end_headers()
                # an error that quotes the request, as some servers do: assay must
                # blank the URL's secret part out of the reason it records
                self.wfile.write(b"ok" if status < 400 else f"no_service {self.path}".encode())

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN-SECRET"

    def bodies(self) -> list[Any]:
        return [r.body for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    text: str  # as sent: headers, then the body (quoted-printable, maybe)
    was_tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_string(self.text, policy=policy.default)  # type: ignore[return-value]

    @property
    def body(self) -> str:
        return str(self.message.get_content())


class SmtpServer:
    """aiosmtpd on 127.0.0.1; with `cert` it offers STARTTLS and requires it, and with
    `password` it requires a login (over TLS)."""

    def __init__(
        self,
        *,
        cert: tuple[Path, Path] | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.mails: list[Mail] = []
        server = self

        class Handler:
            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
                server.mails.append(
                    Mail(
                        sender=envelope.mail_from,
                        recipients=list(envelope.rcpt_tos),
                        text=envelope.content.decode("utf-8", errors="replace"),
                        was_tls=session.ssl is not None,
                        login=session.auth_data if session.authenticated else None,
                    )
                )
                return "250 OK"

        def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = isinstance(data, LoginPassword) and (
                data.login.decode() == user and data.password.decode() == password
            )
            # handled=False: aiosmtpd answers a refusal itself (535)
            return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

        kwargs: dict[str, Any] = {}
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            kwargs |= {"tls_context": context, "require_starttls": True}
        if password is not None:
            kwargs |= {"authenticator": authenticator, "auth_required": True}
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()
