"""Sending lineage events beyond the state store, through the standard OpenLineage client.

The client's own configuration decides where events go: `openlineage.yml` (in
the working directory, `~/.openlineage/`, or `OPENLINEAGE_CONFIG`),
`OPENLINEAGE_URL`, `OPENLINEAGE__TRANSPORT__*` variables; `OPENLINEAGE_DISABLED=true`
turns sending off. With none of them, nothing is sent anywhere (the client alone
would print every event to the console).

Sending happens on a thread of its own: a slow or dead endpoint (the HTTP
transport retries for about 9 s per event) never slows a run. At the run's end
the sender gets a short grace period to finish while it makes progress; what it
could not send is counted, and stays stored in DuckDB.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

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
            f"OpenLineage: {self.failed} of {self.sent + self.failed} events were not sent to "
            f"{self.target} ({self.error}); they are stored in the state store, where "
            "`assay lineage` and `assay.lineage.open()` read them"
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
    """A background sender for one run's events."""

    def __init__(self, client: Any, target: str) -> None:
        self._client = client
        self.target = target
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._sent = 0
        self._failed = 0
        self._pending = 0
        self._error: str | None = None
        self._streak = 0
        self._progress_at = time.monotonic()
        self._thread = threading.Thread(target=self._work, name="assay-lineage", daemon=True)
        self._thread.start()

    @classmethod
    def from_environment(cls) -> Delivery | None:
        """A sender when the client is configured to send somewhere, else None.

        Raises nothing: a configuration the client rejects is logged and sends nothing.
        """
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
        return cls(client, _describe_transport(client.transport))

    def send(self, events: Sequence[LineageEvent]) -> None:
        with self._lock:
            self._pending += len(events)
        for event in events:
            self._queue.put(event.json)

    def close(self, *, stall_s: float = STALL_S, max_s: float = DRAIN_MAX_S) -> DeliveryReport:
        """Wait while events are still being sent (not past a stall, nor `max_s`)."""
        self._queue.put(None)
        started = time.monotonic()
        while self._thread.is_alive():
            self._thread.join(0.05)
            now = time.monotonic()
            with self._lock:
                stalled = now - max(self._progress_at, started) > stall_s
            if stalled or now - started > max_s:
                break
        with self._lock:
            unsent = self._pending
            self._pending = 0
            self._failed += unsent
            if unsent and self._error is None:
                self._error = f"the endpoint did not answer within {stall_s:g} s"
            return DeliveryReport(
                target=self.target, sent=self._sent, failed=self._failed, error=self._error
            )

    def _work(self) -> None:
        while True:
            text = self._queue.get()
            if text is None:
                return
            with self._lock:
                if self._pending == 0:  # close() gave up on it
                    continue
                broken = self._streak >= BREAKER_FAILURES
            if broken:
                self._count(ok=False)
                continue
            try:
                self._client.emit(as_client_event(json.loads(text)))
            except Exception as exc:
                with self._lock:
                    self._streak += 1
                    if self._error is None:
                        self._error = _short(exc)
                self._count(ok=False)
            else:
                with self._lock:
                    self._streak = 0
                self._count(ok=True)

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
