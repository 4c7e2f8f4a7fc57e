"""Observing source assets: call their observe functions, record the versions.

Every observe function runs first; only when all of them return valid versions
is anything journaled, so a failing one leaves the state store untouched.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import ObservationError
from assay.execution.context import AssetContext
from assay.execution.emission import RunLineage
from assay.execution.runner import run_record
from assay.execution.step import describe_exception
from assay.keys import validate_partition_key
from assay.lineage.events import OBSERVE_JOB, observation_event
from assay.state.clock import Clock
from assay.state.journal import Journal
from assay.state.store import IndexReport, StateStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from assay.config import ProjectConfig
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    key: AssetKey
    partition: str | None
    data_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ObserveResult:
    run_id: str
    observations: tuple[Observation, ...]
    index: IndexReport


def run_observation(
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    now: datetime,
    io_for: Callable[[AssetKey], IOManager],
) -> ObserveResult:
    """Observe the observable source assets among `keys` and record what they return.

    Raises:
        ObservationError: an observe function raised or returned a bad version;
            nothing is recorded.
    """
    run_id = str(uuid.uuid4())
    observed: list[Observation] = []
    for key in keys:
        spec = graph.specs[key]
        if not spec.is_observable:
            continue
        kwargs: dict[str, Any] = {}
        if spec.wants_context:
            kwargs["context"] = AssetContext(
                run_id=run_id,
                asset_key=key,
                partition_key=None,
                log=logging.getLogger(f"assay.asset.{key}"),
            )
        try:
            returned = spec.fn(**kwargs)
        except Exception as exc:
            raise ObservationError(
                f"observing {key} failed: {describe_exception(exc, spec)}; nothing was "
                "recorded. Fix the observe function and run `assay observe` again."
            ) from exc
        observed.extend(_versions(key, returned, spec.partitions, now))
    store = StateStore(config.home)
    store.check_home()
    at = time.time()
    with Journal(store.journal_dir, run_id) as journal, Clock(config.home) as clock:
        seq = clock.next()
        run = run_record(run_id, "observe " + " ".join(map(str, keys)), config.root, len(observed))
        records = [
            {
                "type": "observation",
                "observation_id": str(uuid.uuid4()),
                "run_id": run_id,
                "asset_key": str(o.key),
                "partition_key": o.partition,
                "data_version": o.data_version,
                "observed_at": at,
                "seq": seq,
            }
            for o in observed
        ]
        journal.append(run, *records)
        lineage = RunLineage(
            config=config,
            graph=graph,
            io_for=io_for,
            run_id=run_id,
            job=OBSERVE_JOB,
            journal=journal,
            job_type="OBSERVE",
        )
        lineage.started(run["started_at"])
        for o in observed:
            lineage.build(
                observation_event,
                lineage.dataset(
                    o.key,
                    version=o.data_version,
                    partitions=o.partition,
                    keys=None if o.partition is None else (o.partition,),
                ),
                lineage.namespace,
                o.partition,
                at,
            )
        done = time.time()
        finished = {**run, **lineage.finished("succeeded", done), "status": "succeeded"}
        finished |= {"finished_at": done, "succeeded_count": len(observed)}
        journal.append(finished, durable=True)
    return ObserveResult(
        run_id=run_id, observations=tuple(observed), index=store.index_pending(timeout_s=10)
    )


def _versions(key: AssetKey, returned: object, partitions: Any, now: datetime) -> list[Observation]:
    if partitions is None:
        if not isinstance(returned, str) or not returned:
            raise ObservationError(
                f"the observe function of {key} returned {returned!r}; return the data "
                "version as a non-empty string (a file hash, a modification time, a row count)"
            )
        return [Observation(key=key, partition=None, data_version=returned)]
    if not isinstance(returned, Mapping):
        raise ObservationError(
            f"the observe function of partitioned {key} returned {type(returned).__name__}; "
            "return a dict from partition key to data version"
        )
    found = []
    for partition, version in returned.items():
        validate_partition_key(partition)
        partitions.index(partition, now)
        if not isinstance(version, str) or not version:
            raise ObservationError(
                f"the observe function of {key} returned {version!r} for partition "
                f"{partition!r}; versions are non-empty strings"
            )
        found.append(Observation(key=key, partition=partition, data_version=version))
    return found
