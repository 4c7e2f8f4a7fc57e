"""The daemon's engine: evaluate what is due, record it, launch it, never twice.

One evaluation (`tick`) does, for each enabled schedule and sensor that is due:
evaluate it (user code in a forked process), record the tick with its cursor and
every run it requests in one journal line (fsynced), then, for each request,
claim its run key, and launch it as an ordinary `assay materialize` or `assay
backfill start` in a process of its own. Whatever is killed where:

- before the record: nothing was requested; the next evaluation asks again;
- after it: the requests are read back at start and launched (a request whose
  run journaled nothing is launched again under the same run id; a run id is
  journaled once, so two launches never make two runs);
- a run key is claimed once (`assay.state.claims`): a second request with it is
  a duplicate, recorded as such.

The engine keeps what it needs in memory and writes only its own journal; it
reads the state store briefly at start and when the journal folder changes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assay.automation.requests import RunRequest, SkipReason, selection_args
from assay.automation.schedules import Schedule, ScheduleContext
from assay.automation.sensors import (
    FinishedRun,
    Sensor,
    SensorContext,
    SensorResult,
    observation_sensor,
)
from assay.daemon import isolate
from assay.daemon.conditions import ConditionTicker
from assay.daemon.launching import (
    CrashPoints,
    Request,
    alive,
    computed_elsewhere,
    contiguous,
    has_started,
    process_with,
)
from assay.daemon.windows import closed_windows, next_tick, schedule_ticks, window_definition
from assay.errors import AssayError, ConfigError, DefinitionError
from assay.execution.launcher import launch
from assay.resources import check_environment
from assay.run_config import plain_values, project_layers, resolve
from assay.selection import parse_selection
from assay.state.automation import AutomationReader
from assay.state.claims import claim_run_key, live_claims
from assay.state.journal import Journal, JournalWriteError
from assay.state.reader import StateReader

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from assay.config import ProjectConfig
    from assay.daemon.clock import Clock
    from assay.definitions import Definitions
    from assay.keys import AssetKey
    from assay.partitions.dynamic import DynamicPartitionsRequest
    from assay.partitions.time_window import TimeWindowPartitions

_log = logging.getLogger("assay.daemon")

Automation = Schedule | Sensor
Alerter = "Callable[[str, str, str, str], None]"  # kind, key, subject, text


def automation_of(definitions: Definitions) -> dict[str, Automation]:
    """Every schedule and sensor by name, with a sensor for each source asset observed
    on an interval (`observe_every=`), named `observe-<key>`."""
    found: dict[str, Automation] = {s.name: s for s in definitions.schedules}
    found.update({s.name: s for s in definitions.sensors})
    for spec in definitions.assets:
        if spec.observe_every is not None:
            name = "observe-" + "-".join(spec.key.path)
            found[name] = observation_sensor(
                name, str(spec.key), _observer(spec, definitions.resources), spec.observe_every
            )
    return found


def _observer(spec: Any, resources: Mapping[str, Any]) -> Callable[[], Any]:
    def observe() -> Any:
        from assay.resources import ResourceScope

        scope = ResourceScope(resources, f"observe-{spec.key}")
        try:
            kwargs = {name: scope.get(name) for name in spec.resource_params}
            if spec.wants_context:
                from assay.execution.context import AssetContext

                kwargs["context"] = AssetContext(
                    run_id="", asset_key=spec.key, partition_key=None, log=_log.getChild("observe")
                )
            return spec.fn(**kwargs)
        finally:
            scope.close()

    return observe


@dataclass(slots=True, kw_only=True)
class TickReport:
    """What one evaluation did: ticks recorded, runs launched, duplicates, skips."""

    ticks: list[dict[str, Any]] = field(default_factory=list)
    launched: list[Request] = field(default_factory=list)
    duplicates: list[tuple[Request, str]] = field(default_factory=list)
    skipped: list[tuple[Request, str]] = field(default_factory=list)
    queued: int = 0


@dataclass(slots=True)
class _Known:
    """What the engine remembers of one schedule or sensor."""

    cursor_at: datetime | None = None  # schedules: the last tick evaluated
    cursor: str | None = None  # sensors: where the next evaluation resumes
    evaluated_at: float = 0.0  # real time of the last evaluation (sensors' interval)
    status: str | None = None  # the last tick's: requested, skipped, failed
    next_due: datetime | None = None


class Engine:
    """Schedules and sensors of one project and state home, evaluated by one process
    at a time (the caller holds `<home>/daemon.lock`)."""

    def __init__(
        self,
        config: ProjectConfig,
        definitions: Definitions,
        *,
        clock: Clock,
        session: str,
        max_concurrent_runs: int = 10,
        alert: Callable[[str, str, str, str], None] | None = None,
        crash_points: str | None = None,
    ) -> None:
        self.config = config
        self.home = config.home
        self.clock = clock
        self.session = session
        self.max_concurrent_runs = max_concurrent_runs
        self.alert = alert or self._alert
        self.journal: Journal | None = None
        self.known: dict[str, _Known] = {}
        self.enabled_overrides: dict[str, bool] = {}
        self.queue: list[Request] = []
        self.launched: dict[str, tuple[int, str]] = {}  # run id -> (pid, process start)
        self.launched_requests: dict[str, Request] = {}  # run id -> what it was asked to run
        self.evaluations: dict[str, isolate.Evaluation] = {}
        self.automation: dict[str, Automation] = {}
        self.windows: dict[str, TimeWindowPartitions | None] = {}  # schedules' partitions
        self._selected: dict[tuple[str, ...], list[AssetKey]] = {}
        self.definitions = definitions
        self._crash = CrashPoints(crash_points or os.environ.get("ASSAY_CRASH_AT"))
        self._seq = 0
        self._deferred = False  # appends wait for the end of the evaluation (one write)
        self._pending: list[dict[str, Any]] = []
        self.conditions = ConditionTicker(self)
        self.use(definitions)

    def _alert(self, kind: str, key: str, subject: str, text: str) -> None:
        """Log it, and deliver it to the project's alerts that want it (bounded by
        `[tool.assay.alerts] budget_s`; a failing target is logged, never raised)."""
        _log.warning("%s: %s", subject, text)
        alerts = getattr(self.definitions, "alerts", ())
        if not alerts:
            return
        from assay.alerting import AlertEvent, notify
        from assay.automation.alerts import EventKind

        event = AlertEvent(kind=EventKind(kind), key=key, subject=subject, text=text)
        for result in notify(self.config, alerts, event, graph=self.definitions.graph):
            if result.status == "failed":
                _log.warning("alert %s to %s failed: %s", key, result.target, result.error)

    # --- definitions -----------------------------------------------------------------

    def use(self, definitions: Definitions) -> None:
        """Evaluate these definitions from now on (a reload keeps what is known, but
        for the next ticks: a schedule's cron may have changed)."""
        automation = automation_of(definitions)
        windows = {  # refuse a bad schedule now
            name: window_definition(item, definitions.graph)
            for name, item in automation.items()
            if isinstance(item, Schedule)
        }
        self.definitions = definitions
        self.automation = automation
        self.windows = windows
        self._selected = {}
        for name in automation:
            self.known.setdefault(name, _Known()).next_due = None
        self.conditions.use(definitions)

    def is_enabled(self, name: str) -> bool:
        item = self.automation[name]
        return self.enabled_overrides.get(name, item.enabled)

    # --- state -----------------------------------------------------------------------

    def load_state(self) -> None:
        """What earlier sessions recorded: cursors, enabled flags, requests not started."""
        reader = AutomationReader(self.home)
        self.enabled_overrides = reader.enabled()
        self.conditions.load(reader)
        for name, row in reader.latest_ticks().items():
            known = self.known.setdefault(name, _Known())
            known.cursor_at = _as_utc(row.get("cursor_at"))
            known.cursor = row.get("good_cursor")
            known.status = row.get("status")
            evaluated = _as_utc(row.get("evaluated_at"))
            known.evaluated_at = evaluated.timestamp() if evaluated else 0.0
        self.enabled_at = {
            name: float(at) for name, at in reader.enabled_times().items() if at is not None
        }
        now = self.clock.now()
        for name, at in self.enabled_at.items():
            seen = self.known.get(name)
            enabled_since_evaluated = seen is not None and at > seen.evaluated_at
            if name in self.automation and self.is_enabled(name) and enabled_since_evaluated:
                self._restart_from(name, now, "enabled: ticks from now on")
        for row in reader.unstarted_requests():
            command = json.loads(row["command"]) if row.get("command") else None
            if not command:
                continue
            request = Request(
                run_id=row["run_id"],
                run_key=row["run_key"],
                name=row.get("name") or "",
                tick_id=row.get("tick_id") or "",
                command=command,
                targets=_targets_of(row),
                priority=int(row.get("priority") or 0),
            )
            if not self._has_started(request.run_id) and all(
                q.run_id != request.run_id for q in self.queue
            ):
                self.queue.append(request)

    def refresh_enabled(self) -> None:
        """Enabled flags as `assay schedule enable/disable` recorded them (read without
        indexing: the command indexed its own record). A schedule enabled since it was
        last evaluated starts from now: enabling never runs history."""
        with contextlib.suppress(AssayError):
            reader = AutomationReader(self.home, index=False)
            found = reader.enabled()
            times = reader.enabled_times()
            now = self.clock.now()
            self.conditions.refresh_enabled(found)
            for name, enabled in found.items():
                if name not in self.automation:
                    continue
                was = self.is_enabled(name)
                self.enabled_overrides[name] = enabled
                if enabled and not was:
                    self._restart_from(name, now, "enabled: ticks from now on")
            self.enabled_at.update({k: float(v) for k, v in times.items() if v is not None})

    def _restart_from(self, name: str, now: datetime, reason: str) -> None:
        """A schedule ticks from `now` on (a sensor keeps its cursor)."""
        if not isinstance(self.automation[name], Schedule):
            return
        known = self.known[name]
        known.cursor_at = now
        known.next_due = None
        self.record_tick(name, tick_at=now, status="skipped", reason=reason, requests=[])

    # --- one evaluation --------------------------------------------------------------

    def evaluate_due(self) -> None:
        """Start the evaluation of every enabled schedule and sensor that is due (the
        ticks it records are fsynced together, at its end)."""
        now = self.clock.now()
        walks: dict[tuple[object, datetime], tuple[list[datetime], datetime | None]] = {}
        with self._synced_at_end():
            for name, item in self.automation.items():
                if not self.is_enabled(name) or name in self.evaluations:
                    continue
                if isinstance(item, Schedule):
                    self._evaluate_schedule(name, item, now, walks)
                else:
                    self._evaluate_sensor(name, item, now)
            if self.conditions.due(now):
                try:
                    self.conditions.evaluate(now)
                except AssayError as exc:  # the state is held or unreadable: next time
                    _log.warning("automation conditions not evaluated: %s", exc)

    def collect(self, *, wait: bool = False) -> None:
        """Record what finished evaluations answered (all of them, with `wait`)."""
        while True:
            with self._synced_at_end():
                for name, evaluation in list(self.evaluations.items()):
                    done, value, error = evaluation.poll()
                    if not done:
                        continue
                    del self.evaluations[name]
                    self._answered(name, evaluation.payload, value, error)
            if not wait or not self.evaluations:
                return
            time.sleep(0.01)

    def next_wakeup(self, now: datetime) -> float:
        """Seconds until something is due (at most 1: the heartbeat)."""
        soonest = 1.0
        for name, item in self.automation.items():
            if not self.is_enabled(name):
                continue
            known = self.known[name]
            if isinstance(item, Schedule):
                if known.next_due is not None:
                    soonest = min(soonest, (known.next_due - now).total_seconds())
            else:
                due = known.evaluated_at + item.interval.total_seconds() - time.time()
                soonest = min(soonest, due)
        if self.conditions.next_time is not None:
            soonest = min(soonest, (self.conditions.next_time - now).total_seconds())
        if self.evaluations:
            soonest = min(soonest, 0.02)
        return max(0.0, soonest)

    # --- schedules -------------------------------------------------------------------

    def _evaluate_schedule(
        self,
        name: str,
        item: Schedule,
        now: datetime,
        walks: dict[tuple[object, datetime], tuple[list[datetime], datetime | None]],
    ) -> None:
        """`walks`: this evaluation's ticks by cron (or partition grid) and cursor:
        schedules with the same cron that ticked together share one walk (after a
        start, 1,000 schedules of a few crons: a few walks, not 1,000)."""
        known = self.known[name]
        if known.cursor_at is None:
            self._restart_from(name, now, "first evaluated: ticks from now on")
            return
        if known.next_due is not None and known.next_due > now:
            return
        window = self.windows[name]
        walk = (item.cron if item.cron is not None else window, known.cursor_at)
        if walk not in walks:
            walks[walk] = schedule_ticks(item, window, known.cursor_at, now)
        ticks, upcoming = walks[walk]
        if not ticks:
            known.next_due = upcoming or next_tick(item, window, now)
            return
        tick = ticks[-1]
        keys: list[str] = []
        notes: list[str] = []
        if len(ticks) > 1:
            notes.append(f"{len(ticks) - 1} missed tick(s) before it")
        if window is not None:
            keys, too_old = closed_windows(window, known.cursor_at, tick, item.catch_up)
            if too_old:
                first, last = too_old[0], too_old[-1]
                selection = " ".join(selection_args(item.selection))
                self.alert(
                    "tick_failed",
                    f"catch_up:{name}:{first}:{last}",
                    f"schedule {name} missed {len(too_old)} partition(s) beyond its catch-up",
                    f"schedule {name} was down for longer than its catch-up of {item.catch_up}: "
                    f"{first}..{last} did not run; run `assay backfill start {selection} "
                    f"--from {first} --to {last}` to fill them",
                )
                notes.append(f"{len(too_old)} older window(s) left out ({first}..{last})")
            if not keys:
                self._finish_schedule(name, tick, [], "no window closed", notes)
                return
        context = ScheduleContext(name=name, tick=tick, partitions=tuple(keys))
        if item.fn is None:
            self._finish_schedule(name, tick, item.evaluate(context), None, notes, keys=keys)
            known.next_due = upcoming  # seen on the way (None: found at the next pass)
            return
        self.evaluations[name] = isolate.start(
            name, item.evaluate, context, timeout_s=60.0, payload=(tick, keys, notes)
        )

    def _finish_schedule(
        self,
        name: str,
        tick: datetime,
        asked: list[RunRequest] | SkipReason,
        skip: str | None,
        notes: list[str],
        *,
        keys: Sequence[str] = (),
        error: str | None = None,
    ) -> None:
        item = self.automation[name]
        assert isinstance(item, Schedule)
        known = self.known[name]
        requests: list[Request] = []
        if error is not None:
            status, reason = "failed", error
        elif isinstance(asked, SkipReason) or skip is not None:
            status = "skipped"
            reason = skip if skip is not None else (asked.reason or "skipped")  # type: ignore[union-attr]
        else:
            status, reason = "requested", None
            tick_id = _tick_id()
            try:
                for n, request in enumerate(asked):
                    key = f"schedule:{name}:{tick.isoformat()}"
                    if request.run_key:
                        key = f"schedule:{name}:{request.run_key}"
                    elif n:
                        key += f":{n}"
                    requests.append(
                        self._request(
                            name,
                            tick_id,
                            request,
                            default_selection=item.selection,
                            default_partitions=keys,
                            force=not item.only_stale,
                            run_key=key,
                            at=tick,
                            priority=request.priority or item.priority,
                        )
                    )
            except ConfigError as exc:  # a request's configuration: the tick fails, saying so
                status, reason, requests = "failed", str(exc), []
        if notes:
            reason = "; ".join(filter(None, [reason, *notes]))
        self.record_tick(name, tick_at=tick, status=status, reason=reason, requests=requests)
        known.cursor_at = tick
        known.next_due = None

    # --- sensors ---------------------------------------------------------------------

    def _evaluate_sensor(self, name: str, item: Sensor, now: datetime) -> None:
        known = self.known[name]
        if time.time() < known.evaluated_at + item.interval.total_seconds():
            return
        known.evaluated_at = time.time()
        context = SensorContext(name=name, cursor=known.cursor, now=now, root=self.config.root)
        if item.kind == "run_status":
            after = float(known.cursor) if known.cursor else now.timestamp()
            if known.cursor is None and not self.clock.is_real:
                after = time.time()
            context.runs, context.new_cursor = self._finished_runs(after)
        self.evaluations[name] = isolate.start(
            name, item.evaluate, context, timeout_s=item.timeout.total_seconds(), payload=now
        )

    def _finished_runs(self, after: float) -> tuple[tuple[FinishedRun, ...], str]:
        rows = AutomationReader(self.home, index=False).finished_runs(after)
        runs = tuple(
            FinishedRun(
                run_id=r["run_id"],
                status=r["status"],
                kind=r.get("kind") or "materialize",
                selection=r.get("selection") or "",
                finished_at=datetime.fromtimestamp(float(r["finished"]), UTC),
            )
            for r in rows
        )
        newest = max([after, *(float(r["finished"]) for r in rows)])
        return runs, repr(newest)

    def _finish_sensor(
        self, name: str, now: datetime, result: SensorResult | None, error: str | None
    ) -> None:
        item = self.automation[name]
        assert isinstance(item, Sensor)
        known = self.known[name]
        requests: list[Request] = []
        cursor = known.cursor
        changes: list[dict[str, Any]] = []
        if error is None and result is not None and result.dynamic_partitions_requests:
            try:
                changes = self._partition_changes(result.dynamic_partitions_requests)
            except AssayError as exc:
                error = str(exc)
        if error is not None or result is None:
            status, reason = "failed", error or "no answer"
        elif not result.run_requests:
            status, reason = "skipped", result.skip_reason or "nothing to run"
            cursor = result.cursor if result.cursor is not None else cursor
        else:
            status, reason = "requested", None
            cursor = result.cursor if result.cursor is not None else cursor
            tick_id = _tick_id()
            try:
                for n, request in enumerate(result.run_requests):
                    key = f"sensor:{name}:{request.run_key or f'{tick_id}:{n}'}"
                    requests.append(
                        self._request(
                            name,
                            tick_id,
                            request,
                            default_selection=item.selection,
                            default_partitions=(),
                            force=bool(request.force),
                            run_key=key,
                            at=now,
                            priority=request.priority,
                        )
                    )
            except ConfigError as exc:  # a request's configuration: the tick fails, saying so
                status, reason, requests = "failed", str(exc), []
        if changes and status != "failed":  # a tick that only changed keys says so
            reason = "; ".join(filter(None, [reason, f"changed {len(changes)} partition key(s)"]))
        self.record_tick(
            name,
            tick_at=now,
            status=status,
            reason=reason,
            requests=requests,
            cursor=cursor,
            before=changes,
        )
        known.cursor = cursor

    def _partition_changes(self, asked: Sequence[DynamicPartitionsRequest]) -> list[dict[str, Any]]:
        """The `partition_key` records of a sensor's requests to add and remove keys,
        in order, checked against the stored keys (a key removed that is not there
        fails the tick, naming it)."""
        from assay.state.dynamic import change_records, find_dynamic, planned_changes

        graph = self.definitions.graph
        names = [find_dynamic(graph, request.name).name for request in asked]
        current = {
            name: list(keys)
            for name, keys in StateReader(self.home).dynamic_partition_keys(names).items()
        }
        records: list[dict[str, Any]] = []
        for request in asked:
            keys = current.setdefault(request.name, [])
            changed = planned_changes(keys, request.keys, is_add=request.is_add, name=request.name)
            if request.is_add:
                keys.extend(changed)
            else:
                gone = set(changed)
                current[request.name] = [k for k in keys if k not in gone]
            records += change_records(self.home, request.name, changed, is_add=request.is_add)
        return records

    # --- answers, records, requests --------------------------------------------------

    def _answered(self, name: str, payload: Any, value: Any, error: str | None) -> None:
        item = self.automation.get(name)
        if item is None:
            return
        if isinstance(item, Schedule):
            tick, keys, notes = payload
            if error is None:
                try:
                    asked = value
                    if not isinstance(asked, SkipReason | list):
                        raise DefinitionError(f"schedule {name!r} returned {type(asked).__name__}")
                except DefinitionError as exc:
                    error = str(exc)
            self._finish_schedule(
                name,
                tick,
                value if error is None else [],
                None,
                notes,
                keys=keys,
                error=error,
            )
        else:
            self._finish_sensor(name, payload, value if error is None else None, error)

    def _request(
        self,
        name: str,
        tick_id: str,
        request: RunRequest,
        *,
        default_selection: str | Sequence[str] | None,
        default_partitions: Sequence[str],
        force: bool,
        run_key: str,
        at: datetime,
        priority: int,
    ) -> Request:
        selection = selection_args(request.selection or default_selection)
        partitions = list(
            request.partitions if request.partitions is not None else default_partitions
        )
        if request.force is not None:
            force = request.force
        graph = self.definitions.graph
        keys = self._selected.get(selection)
        if keys is None:
            keys = parse_selection(list(selection) or None).resolve(graph)
            self._selected[selection] = keys  # the same for every tick of the definitions
        targets: dict[str, list[str] | None] = {
            str(k): (list(partitions) or None) if graph.specs[k].partitions is not None else None
            for k in keys
        }
        if len(partitions) > 1 and contiguous(graph, keys, partitions):
            command = [
                "backfill",
                "start",
                *selection,
                "--from",
                partitions[0],
                "--to",
                partitions[-1],
            ]
        else:
            command = ["materialize", *selection]
            command += [arg for key in partitions for arg in ("--partition", key)]
            command += ["--observe"] if request.observe else []
        command += ["--force"] if force else []
        # a run its resources would refuse (an unset variable) fails the tick instead
        check_environment(self.definitions.resources, self.definitions.resources_used(keys))
        if request.config:
            command += ["--config", self._config_json(request.config, name)]
        command += ["--run-key", run_key]
        if not self.clock.is_real:
            command += ["--at", at.isoformat()]
        return Request(
            run_id=str(uuid.uuid4()),
            run_key=run_key,
            name=name,
            tick_id=tick_id,
            command=command,
            targets=targets,
            priority=priority,
        )

    def _config_json(self, config: Mapping[str, Any], name: str) -> str:
        """A request's configuration, checked against the assets' dataclasses, as the
        JSON `--config` reads.

        Raises:
            ConfigError: a value the assets do not take (the tick fails, saying so).
        """
        specs = self.definitions.graph.specs
        given = (f"the RunRequest(config=...) of {name!r}", config)
        resolve(specs, [*project_layers(self.config), given], only=config)  # raises, naming it
        return json.dumps({str(k): plain_values(v) for k, v in config.items()}, sort_keys=True)

    def record_tick(
        self,
        name: str,
        *,
        tick_at: datetime,
        status: str,
        reason: str | None,
        requests: list[Request],
        cursor: str | None = None,
        kind: str | None = None,
        tick_id: str | None = None,
        before: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Record one tick with its cursor and the runs it requests, in one write, then
        queue them (`kind`: for what is not a schedule or sensor; `before`: records
        its runs need, such as the partition keys a sensor added, written first)."""
        item = self.automation.get(name)
        tick_id = tick_id or (requests[0].tick_id if requests else _tick_id())
        self._crash.hit("before_record")
        now = time.time()
        record = {
            "type": "tick",
            "tick_id": tick_id,
            "name": name,
            "kind": kind
            or ("schedule" if isinstance(item, Schedule) else getattr(item, "kind", "")),
            "tick_at": tick_at.timestamp(),
            "evaluated_at": now,
            "status": status,
            "reason": reason,
            "cursor": cursor,
            "requests": json.dumps([r.as_record() for r in requests]) if requests else None,
            "session": self.session,
            "seq": self._next_seq(),
        }
        queued = [
            {
                "type": "run_request",
                "run_id": r.run_id,
                "run_key": r.run_key,
                "name": name,
                "tick_id": tick_id,
                "status": "queued",
                "command": json.dumps(r.command),
                "priority": r.priority,
                "at": now,
                "seq": self._next_seq(),
            }
            for r in requests
        ]
        self._append(*before, record, *queued)  # the cursor and its requests, in one write
        if not self._deferred:
            self._crash.hit("after_record")  # else once they are written (_synced_at_end)
        known = self.known.setdefault(name, _Known())
        previous = known.status
        known.status = status
        if status == "failed" and previous != "failed":
            self.alert(
                "tick_failed",
                f"tick_failed:{name}:{tick_id}",
                f"{name} failed",
                f"{'schedule' if isinstance(item, Schedule) else 'sensor'} {name}: {reason}",
            )
        for request in requests:
            request.queued_seq = self._seq
            self.queue.append(request)
        if status == "failed":
            _log.warning("%s failed: %s", name, reason)
        elif requests:
            _log.info("%s requested %d run(s)", name, len(requests))

    def append_records(self, *records: dict[str, Any]) -> None:
        """Append records to this session's journal (fsynced with the evaluation's)."""
        self._append(*records)

    def next_seq(self) -> int:
        return self._next_seq()

    def new_tick_id(self) -> str:
        return _tick_id()

    def make_request(
        self, name: str, tick_id: str, request: RunRequest, *, run_key: str, at: datetime
    ) -> Request:
        """A request of `name`'s (not a schedule's or sensor's), with its command line."""
        return self._request(
            name,
            tick_id,
            request,
            default_selection=request.selection,
            default_partitions=(),
            force=bool(request.force),
            run_key=run_key,
            at=at,
            priority=request.priority,
        )

    def _append(self, *records: dict[str, Any]) -> None:
        if self._deferred:
            self._pending.extend(records)
            return
        if self.journal is None:
            self.journal = Journal(self.config.journal_dir, self.session)
        self.journal.append(*records, durable=True)

    @contextlib.contextmanager
    def _synced_at_end(self) -> Iterator[None]:
        """Records appended in the block are written and fsynced at its end, in one
        write (1,000 ticks due at midnight: one write and one fsync, not 1,000 of
        each). Nothing launches inside it, so a process killed inside it has
        requested nothing: what it evaluated is evaluated again at the restart, and
        the run keys of schedules (their tick instants) come out the same."""
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = False
            if self._pending:
                pending, self._pending = self._pending, []
                self._append(*pending)
                self._crash.hit("after_record")

    def _next_seq(self) -> int:
        self._seq = max(self._seq + 1, time.time_ns())
        return self._seq

    # --- the queue -------------------------------------------------------------------

    def launch_queued(self, report: TickReport | None = None) -> None:
        """Launch queued requests, highest priority first, while fewer than
        `max_concurrent_runs` launched runs are alive."""
        self.launched = {run_id: proc for run_id, proc in self.launched.items() if alive(*proc)}
        self.launched_requests = {
            run_id: r for run_id, r in self.launched_requests.items() if run_id in self.launched
        }
        self.queue.sort(key=lambda r: (-r.priority, r.queued_seq))
        claims = None
        waiting: list[Request] = []
        while self.queue and len(self.launched) < self.max_concurrent_runs:
            request = self.queue.pop(0)
            if self._has_started(request.run_id):
                continue
            claim = claim_run_key(self.home, request.run_key, request.run_id)
            if claim.run_id != request.run_id:
                reason = f"run key {request.run_key!r} is held by run {claim.run_id[:8]}"
                self._record_request(request, "duplicate", reason)
                if report is not None:
                    report.duplicates.append((request, claim.run_id))
                continue
            self._crash.hit("after_claim")
            if claims is None:
                claims = live_claims(self.home)
            holder = computed_elsewhere(
                self.definitions.graph,
                request,
                claims,
                self.clock.now(),
                StateReader(self.home, index=False),
            )
            if holder is not None:
                reason = f"everything it would compute is being computed by run {holder[:8]}"
                self._record_request(request, "skipped", reason)
                if report is not None:
                    report.skipped.append((request, reason))
                continue
            if self._may_be_starting(request):
                waiting.append(request)  # a launch of an earlier session may be starting:
                continue  # the others need not wait for its journal
            try:
                launched = launch(self.config, request.command, run_id=request.run_id)
            except AssayError as exc:
                self.queue.append(request)
                _log.warning("cannot launch %s: %s", request.run_key, exc)
                break
            self._crash.hit("after_launch")
            self.launched[request.run_id] = (launched.pid, launched.process_start)
            self.launched_requests[request.run_id] = request
            self._record_request(request, "launched", None, pid=launched.pid)
            if report is not None:
                report.launched.append(request)
            _log.info("launched run %s (%s)", request.run_id[:8], request.run_key)
        self.queue.extend(waiting)

    def _record_request(
        self, request: Request, status: str, reason: str | None, *, pid: int | None = None
    ) -> None:
        self._append(
            {
                "type": "run_request",
                "run_id": request.run_id,
                "run_key": request.run_key,
                "name": request.name,
                "tick_id": request.tick_id,
                "status": status,
                "reason": reason,
                "command": json.dumps(request.command),
                "priority": request.priority,
                "pid": pid,
                "at": time.time(),
                "seq": self._next_seq(),
            }
        )

    def _has_started(self, run_id: str) -> bool:
        return has_started(self.config.journal_dir, run_id)

    def _may_be_starting(self, request: Request) -> bool:
        """A request of an earlier session launched just before it died: its process
        may not have journaled yet. Wait for it (a run id is journaled once anyway)."""
        if request.run_id in self.launched:
            return False
        return process_with(request.run_id)

    def close(self, *, clean: bool) -> None:
        for evaluation in self.evaluations.values():
            evaluation.kill()
        self.evaluations.clear()
        if self.journal is not None:
            with contextlib.suppress(JournalWriteError):
                if clean:
                    self.journal.append(
                        {"type": "journal_closed", "journal": self.session, "at": time.time()},
                        durable=True,
                    )
            self.journal.close()
            self.journal = None


# --- helpers ---------------------------------------------------------------------------


def _targets_of(row: dict[str, Any]) -> dict[str, list[str] | None]:
    """What a recorded request asked for (its tick's record has it), so that a request
    read back at start counts as in progress for what it computes."""
    with contextlib.suppress(ValueError, TypeError):
        for asked in json.loads(row.get("tick_requests") or "[]"):
            if asked.get("run_id") == row["run_id"]:
                return dict(asked.get("targets") or {})
    return {}


def _tick_id() -> str:
    return uuid.uuid4().hex[:16]


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
