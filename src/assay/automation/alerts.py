"""Alerts: which events to tell whom (`Alert`), and where to send them (`Webhook`,
`Slack`, `Email`).

These are declarations, checked as they are made; `assay.alerting` delivers
them. Secrets (a URL with a token in it, a password) are best given as the
name of an environment variable (`url_env=`, `password_env=`), read when a
message is sent; a URL given literally works too. Either way only the
target's name is ever recorded (journal, state store, lineage), never a URL,
a header or a password.

Example:
    >>> from datetime import timedelta
    >>> ops = Slack(name="ops", url_env="OPS_SLACK_URL")
    >>> alert = Alert(on=["run_failed", "run_too_long"], to=[ops], max_duration=timedelta(hours=1))
    >>> [str(kind) for kind in alert.on], alert.to[0].name
    (['run_failed', 'run_too_long'], 'ops')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from assay.errors import DefinitionError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = ["Alert", "Email", "EventKind", "Slack", "Target", "Webhook"]


class EventKind(StrEnum):
    """What an alert can be about."""

    RUN_FAILED = "run_failed"  # a run ended failed (its steps' retries spent)
    CHECK_FAILED = "check_failed"  # a blocking, error-severity check did not pass
    TICK_FAILED = "tick_failed"  # a schedule or sensor tick failed, after one that did not
    DEFINITIONS_FAILED = "definitions_failed"  # the definitions module could not be loaded
    RUN_TOO_LONG = "run_too_long"  # a run took longer than the alert's max_duration
    FRESHNESS_MISSED = "freshness_missed"  # an asset is older than its freshness allows
    TEST = "test"  # `assay alerts test TARGET`; no Alert subscribes to it


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # an HTTP token


def _check_name(owner: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{owner}(name={name!r}): give a name of letters, digits, '_', '.' or '-' "
            "(it is how `assay alerts test NAME` and the delivery log refer to the target)"
        )


def _check_env(owner: str, parameter: str, value: object) -> None:
    if not isinstance(value, str) or not _ENV.match(value):
        raise DefinitionError(
            f"{owner}({parameter}={value!r}): give the name of an environment variable, "
            "such as 'OPS_WEBHOOK_URL'"
        )


def _check_url(owner: str, url: str | None, url_env: str | None) -> None:
    if (url is None) == (url_env is None):
        raise DefinitionError(
            f"{owner}(...): give url_env= (the environment variable that holds the URL) or "
            "url=, one of them"
        )
    if url_env is not None:
        _check_env(owner, "url_env", url_env)
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise DefinitionError(
            f"{owner}(url=...) must be an http:// or https:// URL (it is not shown here: "
            "it may hold a token); or give url_env='VARIABLE' to read it when sending"
        )


class Target:
    """Where alerts go. `kind` names the format (webhook, slack, email)."""

    __slots__ = ()
    kind: ClassVar[str] = ""
    name: str

    def secret_envs(self) -> tuple[str, ...]:
        """The environment variables read when sending (for `assay alerts list`)."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where it sends, with secrets as the names of their variables, never values."""
        raise NotImplementedError


def _url_text(url: str | None, url_env: str | None) -> str:
    if url_env is not None:
        return f"${url_env}"
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/… (the URL is in the code, not shown)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook(Target):
    """An HTTP endpoint that receives each event as a JSON POST.

    `headers_env` maps header names to the environment variables holding their
    values (`{"Authorization": "OPS_TOKEN"}`), read when sending.
    """

    kind: ClassVar[str] = "webhook"
    name: str = "webhook"
    url: str | None = field(default=None, repr=False)
    url_env: str | None = None
    headers_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("Webhook", self.name)
        _check_url("Webhook", self.url, self.url_env)
        for header, env in dict(self.headers_env).items():
            if not isinstance(header, str) or not _HEADER.match(header):
                raise DefinitionError(f"Webhook(headers_env=...): {header!r} is not a header name")
            _check_env("Webhook", f"headers_env[{header!r}]", env)
        object.__setattr__(self, "headers_env", dict(self.headers_env))

    def __hash__(self) -> int:  # headers_env is a dict
        return hash((self.name, self.url, self.url_env, tuple(sorted(self.headers_env.items()))))

    def secret_envs(self) -> tuple[str, ...]:
        return tuple(e for e in (self.url_env, *self.headers_env.values()) if e)

    def describe(self) -> str:
        headers = "".join(f", {h}: ${e}" for h, e in self.headers_env.items())
        return f"POST JSON to {_url_text(self.url, self.url_env)}{headers}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Slack(Target):
    """A Slack incoming webhook (the URL is the secret: prefer `url_env=`)."""

    kind: ClassVar[str] = "slack"
    name: str = "slack"
    url: str | None = field(default=None, repr=False)
    url_env: str | None = None

    def __post_init__(self) -> None:
        _check_name("Slack", self.name)
        _check_url("Slack", self.url, self.url_env)

    def secret_envs(self) -> tuple[str, ...]:
        return (self.url_env,) if self.url_env else ()

    def describe(self) -> str:
        return f"Slack incoming webhook {_url_text(self.url, self.url_env)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Email(Target):
    """Mail through an SMTP server, with STARTTLS unless `starttls=False` (a relay on
    localhost, say); `username` logs in with the password in `password_env`."""

    kind: ClassVar[str] = "email"
    name: str = "email"
    host: str
    port: int = 587
    sender: str
    to: Sequence[str]
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None

    def __post_init__(self) -> None:
        _check_name("Email", self.name)
        if not isinstance(self.host, str) or not self.host or any(c in self.host for c in "/ "):
            raise DefinitionError(f"Email(host={self.host!r}): give the SMTP server's host name")
        if (
            isinstance(self.port, bool)
            or not isinstance(self.port, int)
            or not 0 < self.port < 2**16
        ):
            raise DefinitionError(f"Email(port={self.port!r}): give a port number (587, 25, ...)")
        recipients = [self.to] if isinstance(self.to, str) else list(self.to)
        for address in [self.sender, *recipients]:
            if not isinstance(address, str) or "@" not in address or "\n" in address:
                raise DefinitionError(f"Email(...): {address!r} is not an e-mail address")
        if not recipients:
            raise DefinitionError("Email(to=[]): give at least one address to send to")
        object.__setattr__(self, "to", tuple(recipients))
        if (self.username is None) != (self.password_env is None):
            raise DefinitionError(
                "Email(...): give username= and password_env= together (to log in), or neither"
            )
        if self.password_env is not None:
            _check_env("Email", "password_env", self.password_env)

    def secret_envs(self) -> tuple[str, ...]:
        return (self.password_env,) if self.password_env else ()

    def describe(self) -> str:
        tls = "STARTTLS" if self.starttls else "no TLS"
        login = f", login {self.username} / ${self.password_env}" if self.username else ""
        return f"mail to {', '.join(self.to)} via {self.host}:{self.port} ({tls}{login})"


TARGET_TYPES = (Webhook, Slack, Email)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """Send the events of kinds `on` to the targets `to`.

    `select` (dbt-style selection strings, as on the command line) limits the
    alert to events about those assets; events about no asset (the definitions
    failed to load) reach it whatever it selects. `max_duration` is the limit
    for `run_too_long`.
    """

    on: Sequence[EventKind | str]
    to: Sequence[Target]
    select: str | Sequence[str] | None = None
    max_duration: timedelta | None = None

    def __post_init__(self) -> None:
        kinds = [self.on] if isinstance(self.on, str) else list(self.on)
        object.__setattr__(self, "on", tuple(_event_kind(k) for k in kinds))
        if not self.on:
            raise DefinitionError(
                f"Alert(on=[]): give the events to alert on ({', '.join(alert_kinds())})"
            )
        targets = [self.to] if isinstance(self.to, Target) else list(self.to)
        for target in targets:
            if not isinstance(target, TARGET_TYPES):
                raise DefinitionError(
                    f"Alert(to=...) got {target!r}, which is not a target: use Webhook(...), "
                    "Slack(...) or Email(...)"
                )
        if not targets:
            raise DefinitionError("Alert(to=[]): give at least one target")
        object.__setattr__(self, "to", tuple(targets))
        if self.select is not None:
            terms = [self.select] if isinstance(self.select, str) else list(self.select)
            if not terms or not all(isinstance(t, str) and t.strip() for t in terms):
                raise DefinitionError(
                    f"Alert(select={self.select!r}): give selection strings ('group:finance', "
                    "'+revenue'), or leave it out for every asset"
                )
            object.__setattr__(self, "select", tuple(terms))
        if self.max_duration is not None:
            if not isinstance(self.max_duration, timedelta) or self.max_duration <= timedelta():
                raise DefinitionError(
                    f"Alert(max_duration={self.max_duration!r}): give a positive datetime.timedelta"
                )
            if EventKind.RUN_TOO_LONG not in self.on:
                raise DefinitionError(
                    "Alert(max_duration=...) is the limit of 'run_too_long': add it to on=[...]"
                )
        elif EventKind.RUN_TOO_LONG in self.on:
            raise DefinitionError(
                "Alert(on=['run_too_long']) needs max_duration=timedelta(...): how long is too long"
            )

    @property
    def selection(self) -> tuple[str, ...] | None:
        """The selection terms (None: every asset)."""
        return None if self.select is None else tuple(self.select)

    def describe(self) -> str:
        """`run_failed, check_failed for group:finance -> ops, oncall`."""
        kinds = ", ".join(self.on)
        if self.max_duration is not None:
            kinds += f" (over {_duration_text(self.max_duration)})"
        scope = " for " + " ".join(self.select) if self.select else ""
        return f"{kinds}{scope} -> {', '.join(t.name for t in self.to)}"


def alert_kinds() -> list[str]:
    """The event kinds an Alert may name."""
    return [k.value for k in EventKind if k is not EventKind.TEST]


def _event_kind(value: object) -> EventKind:
    if isinstance(value, EventKind) and value is not EventKind.TEST:
        return value
    if isinstance(value, str) and value in alert_kinds():
        return EventKind(value)
    hint = did_you_mean(str(value), alert_kinds()) if isinstance(value, str) else ""
    raise DefinitionError(
        f"Alert(on=...): {value!r} is not an event kind.{hint} "
        f"Use any of {', '.join(alert_kinds())}"
    )


def _duration_text(duration: timedelta) -> str:
    seconds = duration.total_seconds()
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def check_alerts(alerts: Iterable[object]) -> tuple[tuple[Alert, ...], dict[str, Target]]:
    """The alerts, checked, and their targets by name (for `Definitions(alerts=...)`).

    Raises:
        DefinitionError: an item is not an Alert, or two different targets share a name.
    """
    checked: list[Alert] = []
    targets: dict[str, Target] = {}
    for alert in alerts:
        if not isinstance(alert, Alert):
            raise DefinitionError(
                f"Definitions(alerts=...) got {alert!r}, which is not an Alert: "
                "use Alert(on=[...], to=[...])"
            )
        checked.append(alert)
        for target in alert.to:
            known = targets.setdefault(target.name, target)
            if known != target:
                raise DefinitionError(
                    f"two alert targets are named {target.name!r} ({known.kind} and "
                    f"{target.kind}): give each a name of its own (name=...)"
                )
    return tuple(checked), targets
