"""Sending lineage events beyond the state store, through the standard OpenLineage client.

The client's own configuration decides where events go: `openlineage.yml` (in
the working directory, `~/.openlineage/`, or `OPENLINEAGE_CONFIG`),
`OPENLINEAGE_URL`, `OPENLINEAGE__TRANSPORT__*` variables; `OPENLINEAGE_DISABLED=true`
turns sending off. With none of them, nothing is sent anywhere (the client alone
would print every event to the console).

Sending happens on a thread of its own: a slow or dead endpoint (the HTTP
transport retries for about 9 s per event) never slows a run. At the run's end
the sender gets a short grace period to finish while it makes progress; what it
could not send is counted, said (connection refused to URL, HTTP 500 from URL,
timed out after N s), and stays stored in DuckDB, listed in the run's outbox
(`assay.lineage.outbox`) for `assay lineage send` to deliver later.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.lineage.outbox import Outbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from assay.lineage.events import LineageEvent

STALL_S = 1.0  # at the end, give up once nothing was sent for this long
DRAIN_MAX_S = 30.0  # and in any case after this long
BREAKER_FAILURES = 3  # consecutive failures after which nothing more is tried
_log = logging.getLogger("assay.lineage")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """What a run's sender did."""

    target: str
    sent: int = 0
    failed: int = 0  # tried and failed, or never tried once the endpoint was given up
    error: str | None = None

    def describe(self) -> str | None:
        if not self.failed:
            return None
        return (
            f"OpenLineage: {self.failed} of {self.sent + self.failed} events were not sent "
            f"({self.error}); they are stored in the state store: `assay lineage send` "
            "delivers them"
        )


def is_configured() -> bool:
    """True when the OpenLineage client's configuration names somewhere to send events."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OPENLINEAGE_URL"):
        return True
    if any(name.startswith("OPENLINEAGE__TRANSPORT") for name in os.environ):
        return True
    candidates = [os.environ.get("OPENLINEAGE_CONFIG")]
    candidates += [
        str(Path.cwd() / "openlineage.yml"),
        str(Path.home() / ".openlineage" / "openlineage.yml"),
    ]
    return any(path and os.path.isfile(path) for path in candidates)


class Delivery:
    """A background sender of events (one run's, or a backlog's).

    `on_sent` is called with each delivered event's id, on the sender's thread,
    until `close`.
    """

    def __init__(
        self,
        client: Any,
        target: str,
        *,
        on_sent: Callable[[str], None] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._client = client
        self.target = target
        self._on_sent = on_sent
        self.outbox = outbox
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._sent = 0
        self._failed = 0
        self._pending = 0
        self._error: str | None = None
        self._attempt_failure: str | None = None  # what the event being sent last met
        self._attempt_at = time.monotonic()  # when sending it began
        self._streak = 0
        self._closed = False
        self._progress_at = time.monotonic()
        watch_attempts(client.transport, self._attempt_failed)
        self._thread = threading.Thread(target=self._work, name="assay-lineage", daemon=True)
        self._thread.start()

    @classmethod
    def from_environment(
        cls, *, home: Path | None = None, run_id: str | None = None
    ) -> Delivery | None:
        """A sender when the client is configured to send somewhere, else None. With
        `home` and `run_id`, the run's outbox records what it delivers.

        Raises nothing: a configuration the client rejects is logged and sends nothing.
        """
        found = configured_client()
        if found is None:
            return None
        client, target = found
        outbox = None
        if home is not None and run_id is not None:
            outbox = Outbox.open(home, run_id, target)
        return cls(
            client, target, on_sent=None if outbox is None else outbox.delivered, outbox=outbox
        )

    def send(self, events: Sequence[LineageEvent]) -> None:
        self.send_json((event.event_id, event.json) for event in events)

    def send_json(self, events: Iterable[tuple[str, str]]) -> None:
        """Queue (event id, event JSON) pairs."""
        items = list(events)
        with self._lock:
            self._pending += len(items)
        for item in items:
            self._queue.put(item)

    def close(
        self,
        *,
        stall_s: float = STALL_S,
        patience_s: float | None = None,
        max_s: float = DRAIN_MAX_S,
    ) -> DeliveryReport:
        """Wait while events are still being sent: not past `max_s`, and not once nothing
        was sent for `stall_s` (or `patience_s`, when given, until an attempt fails)."""
        self._queue.put(None)
        started = time.monotonic()
        while self._thread.is_alive():
            self._thread.join(0.05)
            now = time.monotonic()
            with self._lock:
                quiet_s = now - max(self._progress_at, started)
                limit_s = stall_s if patience_s is None or self._attempt_failure else patience_s
            if quiet_s > limit_s or now - started > max_s:
                break
        with self._lock:
            self._closed = True
            unsent = self._pending
            self._pending = 0
            self._failed += unsent
            if unsent and self._error is None:
                waited_s = time.monotonic() - self._attempt_at
                self._error = self._attempt_failure or (
                    f"timed out after {waited_s:.0f} s waiting for {self.target}"
                )
            report = DeliveryReport(
                target=self.target, sent=self._sent, failed=self._failed, error=self._error
            )
        if self.outbox is not None:
            self.outbox.close(is_complete=report.failed == 0)
        return report

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event_id, text = item
            with self._lock:
                if self._pending == 0:  # close() gave up on it
                    continue
                broken = self._streak >= BREAKER_FAILURES
                self._attempt_failure = None
                self._attempt_at = time.monotonic()
            if broken:
                self._count(ok=False)
                continue
            try:
                self._client.emit(as_client_event(json.loads(text)))
            except Exception as exc:
                with self._lock:
                    self._streak += 1
                    if self._error is None:
                        self._error = self._attempt_failure or describe_failure(exc, self.target)
                self._count(ok=False)
            else:
                with self._lock:
                    self._streak = 0
                    if self._on_sent is not None and not self._closed:
                        self._on_sent(event_id)
                self._count(ok=True)

    def _attempt_failed(self, failure: str) -> None:
        """One attempt of the transport failed (it may retry); called on the sender's thread."""
        with self._lock:
            self._attempt_failure = failure

    def _count(self, *, ok: bool) -> None:
        with self._lock:
            if self._pending == 0:
                return
            self._pending -= 1
            if ok:
                self._sent += 1
            else:
                self._failed += 1
            self._progress_at = time.monotonic()


def configured_client() -> tuple[Any, str] | None:
    """The configured OpenLineage client and where it sends, or None when it sends
    nowhere (nothing configured, the noop transport, a configuration it rejects)."""
    if not is_configured():
        return None
    try:
        client = _client()
    except Exception as exc:  # a bad openlineage.yml must not stop a run
        _log.warning("OpenLineage: the client configuration is unusable (%s); not sending", exc)
        return None
    kind = getattr(client.transport, "kind", None)
    if kind in (None, "noop"):
        return None
    return client, _describe_transport(client.transport)


def describe_failure(exc: BaseException, target: str) -> str:
    """What sending to `target` met: `connection refused to URL`, `HTTP 500 from URL`,
    `timed out after 5 s waiting for URL`; else the exception in one line."""
    for found in _causes(exc):
        response = getattr(found, "response", None)
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        if isinstance(status, int):
            return f"HTTP {status} from {target}"
        text = str(found)
        many = re.search(r"too many (\d{3}) error responses", text)
        if many:
            return f"HTTP {many.group(1)} from {target}"
        if isinstance(found, ConnectionRefusedError) or "Connection refused" in text:
            return f"connection refused to {target}"
        if isinstance(found, TimeoutError) or type(found).__name__ in _TIMEOUTS:
            timeout = re.search(r"timeout=([\d.]+)", text)
            after = f" after {float(timeout.group(1)):g} s" if timeout else ""
            return f"timed out{after} waiting for {target}"
        if type(found).__name__ in ("NameResolutionError", "gaierror"):
            return f"cannot resolve the host of {target}"
        if type(found).__name__ in ("RemoteDisconnected", "ProtocolError"):
            return f"{target} closed the connection without an answer"
    return _short(exc)


_TIMEOUTS = frozenset({"ConnectTimeoutError", "ReadTimeoutError", "Timeout", "ConnectTimeout"})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps: causes, contexts, urllib3's `reason`, exception args."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        found = todo.pop(0)
        if id(found) in seen:
            continue
        seen.add(id(found))
        yield found
        wrapped = [found.__cause__, found.__context__, getattr(found, "reason", None)]
        wrapped += [a for a in found.args if isinstance(a, BaseException)]
        todo += [w for w in wrapped if isinstance(w, BaseException)]


def watch_attempts(transport: Any, failed: Callable[[str], None]) -> None:
    """Have the HTTP transports in `transport` report each failed attempt, before they
    retry it (they retry one event for about 9 s: what a run's end cannot wait for).

    The transport's own retry policy is kept; only told to report. Other transports
    report their failure when they raise.
    """
    for inner in getattr(transport, "transports", None) or ():
        watch_attempts(inner, failed)
    if getattr(transport, "kind", None) != "http" or not hasattr(transport, "session"):
        return
    target = _describe_transport(transport)
    try:
        adapter = transport.session.get_adapter(transport.url)
        retry = adapter.max_retries
    except Exception:  # another session or adapter than the client's own
        return
    reporting_class = _reporting_retry_class()
    if isinstance(retry, reporting_class) or not hasattr(retry, "__dict__"):
        return
    reporting = object.__new__(reporting_class)
    reporting.__dict__.update(retry.__dict__)
    reporting.report = lambda response, error: failed(_attempt(response, error, target))
    adapter.max_retries = reporting


def _attempt(response: Any, error: BaseException | None, target: str) -> str:
    status = getattr(response, "status", None)
    if isinstance(status, int):
        return f"HTTP {status} from {target}"
    if error is not None:
        return describe_failure(error, target)
    return f"no answer from {target}"


@functools.cache
def _reporting_retry_class() -> type[Any]:
    from urllib3.util import Retry

    class ReportingRetry(Retry):
        """urllib3's retry policy, reporting each failed attempt it is asked about."""

        report: Callable[[Any, BaseException | None], None] | None = None

        def new(self, **kw: Any) -> ReportingRetry:
            made = super().new(**kw)
            made.report = self.report
            return made

        def increment(self, *args: Any, **kwargs: Any) -> ReportingRetry:
            if self.report is not None:
                response = kwargs.get("response", args[2] if len(args) > 2 else None)
                error = kwargs.get("error", args[3] if len(args) > 3 else None)
                with contextlib.suppress(Exception):
                    self.report(response, error)
            return super().increment(*args, **kwargs)

    return ReportingRetry


def _client() -> Any:
    """The configured client, without the environment changes it makes itself
    (`OPENLINEAGE_URL` is copied into `OPENLINEAGE__TRANSPORT__...` variables)."""
    from openlineage.client import OpenLineageClient

    before = dict(os.environ)
    try:
        return OpenLineageClient()
    finally:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        for name, value in before.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


def _describe_transport(transport: Any) -> str:
    url = getattr(transport, "url", None)
    endpoint = getattr(transport, "endpoint", None)
    if url:
        return f"{str(url).rstrip('/')}/{str(endpoint or '').lstrip('/')}".rstrip("/")
    inner = getattr(transport, "transports", None)
    if inner:
        return " + ".join(_describe_transport(t) for t in inner)
    return f"the {getattr(transport, 'kind', 'configured')} transport"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def as_client_event(data: dict[str, Any]) -> Any:
    """An event's JSON back as the client's event class, for `OpenLineageClient.emit`
    (facets stay plain dicts: the transports serialize them as they are)."""
    from openlineage.client import event_v2

    def datasets(kind: Any, items: list[dict[str, Any]], extra: str) -> list[Any]:
        return [
            kind(
                namespace=d["namespace"],
                name=d["name"],
                facets=d.get("facets", {}),
                **{extra: d.get(extra, {})},
            )
            for d in items
        ]

    if "dataset" in data and "run" not in data:
        d = data["dataset"]
        return event_v2.DatasetEvent(
            eventTime=data["eventTime"],
            producer=data["producer"],
            dataset=event_v2.StaticDataset(
                namespace=d["namespace"], name=d["name"], facets=d.get("facets", {})
            ),
        )
    return event_v2.RunEvent(
        eventType=event_v2.RunState(data["eventType"]),
        eventTime=data["eventTime"],
        producer=data["producer"],
        run=event_v2.Run(runId=data["run"]["runId"], facets=data["run"].get("facets", {})),
        job=event_v2.Job(
            namespace=data["job"]["namespace"],
            name=data["job"]["name"],
            facets=data["job"].get("facets", {}),
        ),
        inputs=datasets(event_v2.InputDataset, data.get("inputs", []), "inputFacets"),
        outputs=datasets(event_v2.OutputDataset, data.get("outputs", []), "outputFacets"),
    )
