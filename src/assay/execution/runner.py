"""A run: the selected assets, materialized in dependency order, every record journaled.

The runner is the run's coordinator and its only writer: it appends run, step,
materialization and log records to the run's journal (fsynced at each step's
end) and indexes them into the state store in batches, at most once a second
while the run goes and once at its end. A failing step marks every step
downstream of it skipped, with the reason.
"""

from __future__ import annotations

import getpass
import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assay.execution.step import StepInput, StepResult, StepStatus, execute_step, step_key
from assay.state.journal import Journal, Record
from assay.state.liveness import process_start, this_host
from assay.state.store import IndexReport, StateStore
from assay.version import __version__
from assay.versioning import code_version

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from assay.config import ProjectConfig
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey

INDEX_INTERVAL_S = 1.0
FINAL_INDEX_TIMEOUT_S = 10.0
_log = logging.getLogger("assay")


class RunReporter(Protocol):
    """Receives progress; the CLI prints it, the Python API logs it."""

    def run_started(self, run_id: str, step_keys: Sequence[str]) -> None: ...

    def step_finished(self, result: StepResult) -> None: ...

    def notice(self, message: str) -> None: ...


class LoggingReporter:
    """Reports through the `assay` logger (the default for the Python API)."""

    def run_started(self, run_id: str, step_keys: Sequence[str]) -> None:
        _log.info("run %s: %d steps", run_id, len(step_keys))

    def step_finished(self, result: StepResult) -> None:
        _log.info("%s %s", result.step_key, result.status)

    def notice(self, message: str) -> None:
        _log.warning(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The outcome of a run. `success` is False when any step failed or was skipped."""

    run_id: str
    status: str
    steps: tuple[StepResult, ...]
    index: IndexReport

    @property
    def success(self) -> bool:
        return self.status == "succeeded"

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys([s.value for s in StepStatus if s != StepStatus.RUNNING], 0)
        for step in self.steps:
            counts[step.status.value] += 1
        return counts


def run_materialization(
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    io_for: Callable[[AssetKey], IOManager],
    selection: str,
    reporter: RunReporter | None = None,
) -> RunResult:
    """Materialize `keys` (already in dependency order) in this process."""
    reporter = reporter or LoggingReporter()
    run_id = str(uuid.uuid4())
    store = StateStore(config.home)
    journal = Journal(store.journal_dir, run_id)
    run = _run_record(run_id, selection, config.root, len(keys))
    journal.append(run, durable=True)
    reporter.run_started(run_id, [str(k) for k in keys])
    indexer = _Indexer(store, reporter)
    results: list[StepResult] = []
    not_ok: dict[AssetKey, str] = {}  # key -> "failed" or "skipped"
    try:
        for key in keys:
            blocked = [up for up in graph.upstream[key] if up in not_ok]
            if blocked:
                result = _skipped(key, blocked[0], not_ok[blocked[0]])
            else:
                journal.append(_step_record(run_id, key, None, StepStatus.RUNNING, time.time()))
                result = execute_step(
                    graph.specs[key],
                    run_id=run_id,
                    partition=None,
                    inputs=_inputs(graph, key, io_for),
                    io=io_for(key),
                )
            records = _result_records(run_id, result, graph, run, io_for(key).kind)
            journal.append(*records, durable=True)
            if result.status is not StepStatus.SUCCEEDED:
                not_ok[key] = result.status.value
            results.append(result)
            reporter.step_finished(result)
            indexer.maybe_index()
        status = "failed" if not_ok else "succeeded"
    except BaseException:
        status = "failed"
        raise
    finally:
        counts = {s: sum(r.status == s for r in results) for s in StepStatus}
        journal.append(
            {
                **run,
                "status": status if len(results) == len(keys) else "canceled",
                "finished_at": time.time(),
                "succeeded_count": counts[StepStatus.SUCCEEDED],
                "failed_count": counts[StepStatus.FAILED],
                "skipped_count": counts[StepStatus.SKIPPED],
            },
            durable=True,
        )
        journal.close()
        report = indexer.final()
    return RunResult(run_id=run_id, status=status, steps=tuple(results), index=report)


class _Indexer:
    """Indexes the journal into DuckDB at most once per interval; says once if it cannot."""

    def __init__(self, store: StateStore, reporter: RunReporter) -> None:
        self.store = store
        self.reporter = reporter
        self.last = time.monotonic()
        self.told = False

    def maybe_index(self) -> None:
        if time.monotonic() - self.last >= INDEX_INTERVAL_S:
            self._tell(self.store.index_pending(timeout_s=0.05))
            self.last = time.monotonic()

    def final(self) -> IndexReport:
        report = self.store.index_pending(timeout_s=FINAL_INDEX_TIMEOUT_S)
        if report.held_by or report.busy:
            self.told = False
            self._tell(report, final=True)
        return report

    def _tell(self, report: IndexReport, *, final: bool = False) -> None:
        if self.told or report.is_complete:
            return
        self.told = True
        holder = report.held_by or "another assay process"
        later = (
            "they will be indexed by the next assay command once it is free"
            if final
            else "the run goes on and indexes them when it is free"
        )
        self.reporter.notice(
            f"the state store {self.store.path} is held by {holder}; "
            f"records are safe in {self.store.journal_dir} and {later}"
        )


def _inputs(
    graph: AssetGraph, key: AssetKey, io_for: Callable[[AssetKey], IOManager]
) -> dict[str, StepInput]:
    spec = graph.specs[key]
    return {
        param: StepInput(key=upstream, io=io_for(upstream), kind=spec.input_kinds[param])
        for param, upstream in graph.inputs[key].items()
    }


def _skipped(key: AssetKey, cause: AssetKey, how: str) -> StepResult:
    now = time.time()
    return StepResult(
        key=key,
        partition=None,
        status=StepStatus.SKIPPED,
        started_at=now,
        finished_at=now,
        skip_reason=f"upstream {str(cause)!r} {how}",
    )


def _run_record(run_id: str, selection: str, root: Path, step_count: int) -> Record:
    pid = os.getpid()
    return {
        "type": "run",
        "run_id": run_id,
        "status": "running",
        "selection": selection,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started_at": time.time(),
        "user_name": _user(),
        "host": this_host(),
        "pid": pid,
        "process_start": process_start(pid),
        "git_commit": _git_commit(root),
        "assay_version": __version__,
        "step_count": step_count,
    }


def _step_record(
    run_id: str, key: AssetKey, partition: str | None, status: StepStatus, started_at: float
) -> Record:
    return {
        "type": "step",
        "run_id": run_id,
        "step_key": step_key(key, partition),
        "asset_key": str(key),
        "partition_key": partition,
        "status": status.value,
        "started_at": started_at,
    }


def _result_records(
    run_id: str, result: StepResult, graph: AssetGraph, run: Mapping[str, Any], io_kind: str
) -> list[Record]:
    records: list[Record] = [
        {
            **_step_record(run_id, result.key, result.partition, result.status, result.started_at),
            "finished_at": result.finished_at,
            "error": result.error,
            "traceback": result.traceback,
            "skip_reason": result.skip_reason,
        }
    ]
    if result.stored is not None:
        records.append(
            {
                "type": "materialization",
                "materialization_id": str(uuid.uuid4()),
                "run_id": run_id,
                "asset_key": str(result.key),
                "partition_key": result.partition,
                "started_at": result.started_at,
                "finished_at": result.finished_at,
                "row_count": result.stored.row_count,
                "byte_size": result.stored.byte_size,
                "location": result.stored.location,
                "io": io_kind,
                "data_version": result.stored.data_version,
                "code_version": code_version(graph.specs[result.key]),
                "user_name": run["user_name"],
                "host": run["host"],
                "git_commit": run["git_commit"],
            }
        )
    step = result.step_key
    records.extend(
        {"type": "log", "run_id": run_id, "step_key": step, **log} for log in result.logs
    )
    return records


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
