"""A run: the selected assets, materialized in dependency order, every record journaled.

The runner is the run's coordinator and its only writer: it appends run, step,
materialization and log records to the run's journal (fsynced at each step's
end) and indexes them into the state store in batches, at most once a second
while the run goes and once at its end. A failing step marks every step
downstream of it skipped, with the reason.
"""

from __future__ import annotations

import getpass
import json
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
from assay.partitions.subset import PartitionSubset
from assay.partitions.time_window import TimeWindowPartitions
from assay.state.journal import Journal, Record
from assay.state.liveness import process_start, this_host
from assay.state.store import IndexReport, StateStore
from assay.version import __version__
from assay.versioning import code_version, inputs_signature

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

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


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTarget:
    """One asset of a run and the partitions to materialize (None: unpartitioned)."""

    key: AssetKey
    partitions: PartitionSubset | None = None


def run_materialization(
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    targets: Sequence[RunTarget],
    io_for: Callable[[AssetKey], IOManager],
    selection: str,
    now: datetime,
    versions: dict[tuple[str, str], str],
    reporter: RunReporter | None = None,
) -> RunResult:
    """Materialize the targets (in dependency order) in this process.

    `versions` maps (asset, partition key or '') to the current data version of
    every upstream partition the run may read; the run updates it as it goes and
    records, with each materialization, the versions its inputs had (provenance).
    """
    reporter = reporter or LoggingReporter()
    run_id = str(uuid.uuid4())
    store = StateStore(config.home)
    journal = Journal(store.journal_dir, run_id)
    steps = [
        (t.key, i) for t in targets for i in (t.partitions if t.partitions is not None else [None])
    ]
    run = run_record(run_id, selection, config.root, len(steps))
    journal.append(run, durable=True)
    reporter.run_started(run_id, [step_key(k, _key_of(graph, k, i)) for k, i in steps])
    indexer = _Indexer(store, reporter)
    results: list[StepResult] = []
    bad: dict[AssetKey, dict[int, str]] = {}  # asset -> partition index -> "failed"/"skipped"
    try:
        for key, index in steps:
            spec = graph.specs[key]
            partition = _key_of(graph, key, index)
            blocked = _blocked_by(graph, key, index, bad, now)
            if blocked is not None:
                result = _skipped(key, partition, blocked)
            else:
                journal.append(
                    _step_record(run_id, key, partition, StepStatus.RUNNING, time.time())
                )
                window = (
                    spec.partitions.time_window(index)
                    if isinstance(spec.partitions, TimeWindowPartitions) and index is not None
                    else None
                )
                result = execute_step(
                    spec,
                    run_id=run_id,
                    partition=partition,
                    inputs=_inputs(graph, key, index, io_for, now),
                    io=io_for(key),
                    time_window=window,
                )
            provenance = None
            if result.stored is not None:
                provenance = _provenance(graph, key, index, versions, now)
                versions[(str(key), partition or "")] = result.stored.data_version
            records = _result_records(run_id, result, graph, run, io_for(key).kind, provenance)
            journal.append(*records, durable=True)
            if result.status is not StepStatus.SUCCEEDED:
                bad.setdefault(key, {})[index or 0] = result.status.value
            results.append(result)
            reporter.step_finished(result)
            indexer.maybe_index()
        status = "failed" if bad else "succeeded"
    except BaseException:
        status = "failed"
        raise
    finally:
        counts = {s: sum(r.status == s for r in results) for s in StepStatus}
        journal.append(
            {
                **run,
                "status": status if len(results) == len(steps) else "canceled",
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


def upstream_reads(
    graph: AssetGraph, targets: Sequence[RunTarget], now: datetime
) -> list[tuple[str, str]]:
    """Every (upstream asset, partition key or '') that the targets' steps will read."""
    wanted: set[tuple[str, str]] = set()
    for target in targets:
        indices = [None] if target.partitions is None else list(target.partitions)
        for up in graph.upstream[target.key]:
            definition = graph.specs[up].partitions
            read = PartitionSubset()
            for index in indices:
                read = read | _reads(graph, target.key, up, index, now)
            keys = [""] if definition is None else [definition.key(i) for i in read]
            wanted.update((str(up), key) for key in keys)
    return sorted(wanted)


def _key_of(graph: AssetGraph, key: AssetKey, index: int | None) -> str | None:
    definition = graph.specs[key].partitions
    return None if definition is None or index is None else definition.key(index)


def _reads(
    graph: AssetGraph, key: AssetKey, up: AssetKey, index: int | None, now: datetime
) -> PartitionSubset:
    """The partitions of `up` that partition `index` of `key` reads."""
    return graph.mappings[key][up].upstream_for(
        index or 0, graph.specs[up].partitions, graph.specs[key].partitions, now
    )


def _blocked_by(
    graph: AssetGraph,
    key: AssetKey,
    index: int | None,
    bad: Mapping[AssetKey, Mapping[int, str]],
    now: datetime,
) -> str | None:
    """Why this step must be skipped: an upstream partition it reads failed or was skipped."""
    for up in graph.upstream[key]:
        failed = bad.get(up)
        if not failed:
            continue
        for read in _reads(graph, key, up, index, now):
            if read in failed:
                where = _key_of(graph, up, read)
                what = f"{str(up)!r}" + (f" partition {where}" if where else "")
                return f"upstream {what} {failed[read]}"
    return None


def _inputs(
    graph: AssetGraph,
    key: AssetKey,
    index: int | None,
    io_for: Callable[[AssetKey], IOManager],
    now: datetime,
) -> dict[str, StepInput]:
    spec = graph.specs[key]
    inputs = {}
    for param, up in graph.inputs[key].items():
        up_partitions = graph.specs[up].partitions
        keys = (
            None
            if up_partitions is None
            else tuple(up_partitions.key(i) for i in _reads(graph, key, up, index, now))
        )
        inputs[param] = StepInput(
            key=up, io=io_for(up), kind=spec.input_kinds[param], partitions=keys
        )
    return inputs


def _provenance(
    graph: AssetGraph,
    key: AssetKey,
    index: int | None,
    versions: Mapping[tuple[str, str], str],
    now: datetime,
) -> str:
    """What a materialization read: per upstream asset, the partitions and a digest of
    their data versions (so a later plan can tell whether any of them changed)."""
    import xxhash

    read = {}
    for up in graph.upstream[key]:
        definition = graph.specs[up].partitions
        subset = _reads(graph, key, up, index, now)
        keys = [""] if definition is None else [definition.key(i) for i in subset]
        digest = xxhash.xxh3_64()
        missing = 0
        for partition in keys:
            found = versions.get((str(up), partition))
            missing += found is None
            digest.update(f"{partition}={found}\n".encode())
        read[str(up)] = {
            "partitions": "" if definition is None else definition.fold(subset),
            "count": len(keys),
            "versions": digest.hexdigest(),
            "unknown": missing,
        }
    return json.dumps(read, separators=(",", ":"), sort_keys=True)


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


def _skipped(key: AssetKey, partition: str | None, reason: str) -> StepResult:
    now = time.time()
    return StepResult(
        key=key,
        partition=partition,
        status=StepStatus.SKIPPED,
        started_at=now,
        finished_at=now,
        skip_reason=reason,
    )


def run_record(run_id: str, selection: str, root: Path, step_count: int) -> Record:
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
    run_id: str,
    result: StepResult,
    graph: AssetGraph,
    run: Mapping[str, Any],
    io_kind: str,
    provenance: str | None,
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
                "inputs_signature": inputs_signature(graph, result.key),
                "provenance": provenance,
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
