"""Sensors: functions the daemon evaluates on an interval, each in a process of
its own (one that hangs past its timeout is killed, and nothing else waits for
it), returning runs to request and a cursor to resume from.

The cursor and the requests of one evaluation are recorded together before any
run launches: a crash never loses a cursor advance, and never requests again
what was requested. Kinds: `@sensor` (your function), `FileSensor` (files that
map to partition keys), `RunStatusSensor` (another run failed or succeeded),
and, for each source asset with `observe_every=`, an observation that runs what
its changes made stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from assay.automation.requests import RunRequest, SkipReason
from assay.errors import DefinitionError
from assay.keys import check_name
from assay.partitions.dynamic import DynamicPartitionsRequest

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_INTERVAL = timedelta(seconds=30)
DEFAULT_TIMEOUT = timedelta(seconds=60)


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorResult:
    """Runs to request, and the cursor the next evaluation starts from.

    `dynamic_partitions_requests`: keys to add to (or remove from) dynamic
    partitions (`customers.add_request(["acme"])`), recorded with the tick and
    applied before its runs launch, so a run request may name a key added here.
    """

    run_requests: Sequence[RunRequest] = ()
    cursor: str | None = None
    skip_reason: str | None = None
    dynamic_partitions_requests: Sequence[DynamicPartitionsRequest] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishedRun:
    """A run a run-status sensor is told about."""

    run_id: str
    status: str
    kind: str
    selection: str
    finished_at: datetime | None
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class SensorContext:
    """What a sensor function is told: its cursor (None the first time), the
    evaluation's time, the project's root folder, and (run-status sensors) the runs
    that finished since the cursor."""

    name: str
    cursor: str | None
    now: datetime
    root: Path
    runs: tuple[FinishedRun, ...] = ()
    new_cursor: str | None = None

    def update_cursor(self, cursor: str | None) -> None:
        """Resume the next evaluation from `cursor` (recorded with this one's requests)."""
        self.new_cursor = cursor


Evaluation = SensorResult | RunRequest | Sequence[RunRequest] | SkipReason | None


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)
class Sensor:
    """A sensor: `fn(context)` every `interval`, killed after `timeout`.

    `selection`: what a request without its own selection runs. `enabled`: the
    state a new sensor starts in (`assay sensor enable`).
    """

    name: str
    fn: Callable[[SensorContext], Evaluation] = field(repr=False)
    selection: str | Sequence[str] | None = None
    interval: timedelta = DEFAULT_INTERVAL
    timeout: timedelta = DEFAULT_TIMEOUT
    enabled: bool = True
    description: str | None = None
    kind: str = "sensor"

    def __post_init__(self) -> None:
        where = f"sensor {self.name!r}"
        check_name(self.name, "sensor name", where)
        for what, value in (("interval", self.interval), ("timeout", self.timeout)):
            if not isinstance(value, timedelta) or value <= timedelta(0):
                raise DefinitionError(f"{where}: {what} must be a positive timedelta")

    @property
    def source(self) -> str:
        return f"sensor:{self.name}"

    def evaluate(self, context: SensorContext) -> SensorResult:
        """Call the function; its value as a `SensorResult`."""
        return as_result(self.fn(context), context, f"sensor {self.name!r}")


def sensor(
    *,
    selection: str | Sequence[str] | None = None,
    interval: timedelta = DEFAULT_INTERVAL,
    timeout: timedelta = DEFAULT_TIMEOUT,
    name: str | None = None,
    enabled: bool = True,
) -> Callable[[Callable[[SensorContext], Evaluation]], Sensor]:
    """A sensor from a function of a `SensorContext`.

    >>> @sensor(selection="orders+", interval=timedelta(minutes=1))
    ... def new_orders(context):
    ...     return SkipReason("nothing new")
    >>> new_orders.interval
    datetime.timedelta(seconds=60)
    """

    def decorate(fn: Callable[[SensorContext], Evaluation]) -> Sensor:
        return Sensor(
            name=name or fn.__name__,
            fn=fn,
            selection=selection,
            interval=interval,
            timeout=timeout,
            enabled=enabled,
            description=fn.__doc__,
        )

    return decorate


def as_result(value: Any, context: SensorContext, where: str) -> SensorResult:
    if isinstance(value, SensorResult):
        cursor = value.cursor if value.cursor is not None else context.new_cursor
        for request in value.dynamic_partitions_requests:
            if not isinstance(request, DynamicPartitionsRequest):
                raise DefinitionError(
                    f"{where} returned {type(request).__name__} among its "
                    "dynamic_partitions_requests: give DynamicPartitions(...).add_request(keys) "
                    "or .remove_request(keys)"
                )
        return SensorResult(
            run_requests=tuple(value.run_requests),
            cursor=cursor,
            skip_reason=value.skip_reason,
            dynamic_partitions_requests=tuple(value.dynamic_partitions_requests),
        )
    if value is None:
        return SensorResult(cursor=context.new_cursor, skip_reason="nothing to run")
    if isinstance(value, SkipReason):
        return SensorResult(cursor=context.new_cursor, skip_reason=value.reason or "skipped")
    if isinstance(value, RunRequest):
        return SensorResult(run_requests=(value,), cursor=context.new_cursor)
    if isinstance(value, list | tuple) and all(isinstance(v, RunRequest) for v in value):
        return SensorResult(run_requests=tuple(value), cursor=context.new_cursor)
    raise DefinitionError(
        f"{where} returned {type(value).__name__}: return a SensorResult, a RunRequest, "
        "a list of them, a SkipReason or None"
    )


def file_sensor(
    name: str,
    *,
    glob: str,
    selection: str | Sequence[str],
    key: str | Callable[[Path], str | None] = r"(\d{4}-\d{2}-\d{2})",
    interval: timedelta = DEFAULT_INTERVAL,
    timeout: timedelta = DEFAULT_TIMEOUT,
    force: bool = True,
    enabled: bool = True,
) -> Sensor:
    """A sensor that runs `selection` for the partition of each file matching `glob`
    (relative to the project root) that is new or changed since its last
    evaluation. `key` maps a file to its partition key: a regular expression whose
    first group (or group `key`) is found in the file's name, or a function (None:
    not a file of this sensor). Each request's run key is the partition key and the
    file's modification time, so a file rewritten later runs again.

    >>> file_sensor("orders", glob="incoming/orders_*.csv", selection="orders+").kind
    'file'
    """
    pattern = re.compile(key) if isinstance(key, str) else None
    if pattern is not None and pattern.groups == 0:
        raise DefinitionError(f"sensor {name!r}: the key pattern {key!r} needs a group")

    def key_of(path: Path) -> str | None:
        if pattern is None:
            assert callable(key)
            return key(path)
        found = pattern.search(path.name)
        if found is None:
            return None
        return found.group("key") if "key" in pattern.groupindex else found.group(1)

    def evaluate(context: SensorContext) -> SensorResult:
        seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        now_seen: dict[str, int] = {}
        changed: dict[str, int] = {}
        for path in sorted(context.root.glob(glob)):
            if not path.is_file():
                continue
            partition = key_of(path)
            if partition is None:
                continue
            mtime = path.stat().st_mtime_ns
            relative = str(path.relative_to(context.root))
            now_seen[relative] = mtime
            if seen.get(relative) != mtime:
                changed[partition] = max(mtime, changed.get(partition, 0))
        requests = [
            RunRequest(partitions=[partition], run_key=f"{partition}@{mtime}", force=force)
            for partition, mtime in sorted(changed.items())
        ]
        cursor = json.dumps(now_seen, sort_keys=True, separators=(",", ":"))
        skip = None if requests else f"no new or changed file matches {glob}"
        return SensorResult(run_requests=requests, cursor=cursor, skip_reason=skip)

    return Sensor(
        name=name,
        fn=evaluate,
        selection=selection,
        interval=interval,
        timeout=timeout,
        enabled=enabled,
        description=f"files matching {glob}",
        kind="file",
    )


RUN_STATUSES = ("failed", "succeeded", "canceled", "died")


def run_status_sensor(
    name: str,
    *,
    status: str | Sequence[str] = "failed",
    watch: str | Sequence[str] | None = None,
    selection: str | Sequence[str] | None = None,
    fn: Callable[[SensorContext, FinishedRun], Evaluation] | None = None,
    interval: timedelta = DEFAULT_INTERVAL,
    enabled: bool = True,
) -> Sensor:
    """A sensor told of each run that finished with `status` (`failed`,
    `succeeded`, `canceled`, `died`) since its last evaluation, among runs whose
    selection mentions one of the `watch` words (None: every run). Each such run
    requests `selection` (run key: the run's id), or what `fn(context, run)` returns.

    >>> run_status_sensor("after-ingest", status="succeeded", watch="raw", selection="report").kind
    'run_status'
    """
    wanted = (status,) if isinstance(status, str) else tuple(status)
    for value in wanted:
        if value not in RUN_STATUSES:
            raise DefinitionError(
                f"sensor {name!r}: status {value!r} is not one of {', '.join(RUN_STATUSES)}"
            )
    if fn is None and selection is None:
        raise DefinitionError(f"sensor {name!r}: give a selection to run, or a function")
    watched = None if watch is None else ((watch,) if isinstance(watch, str) else tuple(watch))

    def evaluate(context: SensorContext) -> SensorResult:
        requests: list[RunRequest] = []
        for run in context.runs:
            if run.status not in wanted or run.kind == "check":
                continue
            if watched is not None and not set(run.selection.split()) & set(watched):
                continue
            if fn is None:
                requests.append(RunRequest(run_key=run.run_id))
                continue
            result = as_result(fn(context, run), context, f"sensor {name!r}")
            requests += [r if r.run_key else _with_key(r, run.run_id) for r in result.run_requests]
        return SensorResult(
            run_requests=requests,
            cursor=context.new_cursor,
            skip_reason=None if requests else "no watched run finished so",
        )

    return Sensor(
        name=name,
        fn=evaluate,
        selection=selection,
        interval=interval,
        enabled=enabled,
        description=f"runs that {' or '.join(wanted)}",
        kind="run_status",
    )


def _with_key(request: RunRequest, key: str) -> RunRequest:
    return RunRequest(
        selection=request.selection,
        partitions=request.partitions,
        run_key=key,
        force=request.force,
        priority=request.priority,
    )


def observation_sensor(
    name: str, key: str, observe: Callable[[], Any], interval: timedelta
) -> Sensor:
    """The sensor of a source asset with `observe_every=`: its observe function
    every `interval`; when what it returns changed, a run that observes the source
    (recording the observation) and materializes what became stale downstream."""

    def evaluate(context: SensorContext) -> SensorResult:
        versions = observe()
        if isinstance(versions, Mapping):
            versions = {str(k): str(v) for k, v in versions.items()}
        text = json.dumps(versions, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        if digest == context.cursor:
            return SensorResult(cursor=digest, skip_reason=f"{key} did not change")
        return SensorResult(
            run_requests=(RunRequest(selection=f"{key}+", run_key=digest, observe=True),),
            cursor=digest,
        )

    return Sensor(
        name=name,
        fn=evaluate,
        selection=f"{key}+",
        interval=interval,
        timeout=max(DEFAULT_TIMEOUT, interval),
        description=f"observes {key} every {interval}",
        kind="observe",
    )
