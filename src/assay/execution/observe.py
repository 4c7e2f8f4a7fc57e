"""Observing source assets: call their observe functions, record the versions.

Every observe function runs first; only when all of them return valid versions
is anything journaled, so a failing one leaves the state store untouched. Keys
outside a source's partitions (a file for today, whose window is still open)
are left out, with one warning. What no longer exists is recorded absent (an
empty data version): `None` from an unpartitioned source, or a partition that a
partitioned source observed before and returns no longer; its readers then wait.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import ObservationError, PartitionKeyError
from assay.execution.context import AssetContext
from assay.execution.hooks import Observed
from assay.execution.recorder import RecordedRun
from assay.execution.records import observation_record
from assay.execution.user_code import describe_exception
from assay.keys import validate_partition_key
from assay.resources import ResourceScope
from assay.results import RunKind, RunStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.config import ProjectConfig
    from assay.execution.hooks import RunHooks
    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext
    from assay.state.store import IndexReport


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
    absent: tuple[Observation, ...] = ()  # recorded absent this time


def run_observation(
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    context: PartitionContext,
    hooks: RunHooks,
    resources: Mapping[str, Any] | None = None,
) -> ObserveResult:
    """Observe the observable source assets among `keys` and record what they return.

    `resources`: the project's, for observe functions that ask for some (built for
    this observation, torn down after).

    Raises:
        ObservationError: an observe function raised or returned a bad version;
            nothing is recorded.
    """
    run_id = str(uuid.uuid4())
    scope = ResourceScope(resources or {}, run_id)
    try:
        observed, outside = _observe_all(graph, keys, context, run_id, scope)
    finally:
        scope.close()
    return _record(config, graph, keys, hooks, run_id, observed, outside)


def _observe_all(
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    context: PartitionContext,
    run_id: str,
    scope: ResourceScope,
) -> tuple[list[Observation], dict[AssetKey, list[str]]]:
    observed: list[Observation] = []
    outside: dict[AssetKey, list[str]] = {}
    for key in keys:
        spec = graph.specs[key]
        if not spec.is_observable:
            continue
        try:
            kwargs: dict[str, Any] = {name: scope.get(name) for name in spec.resource_params}
        except Exception as exc:
            raise ObservationError(
                f"observing {key} failed: a resource it takes could not be built: {exc}"
            ) from exc
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
        observed.extend(_versions(key, returned, spec.partitions, context, outside))
    return observed, outside


def _record(
    config: ProjectConfig,
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    hooks: RunHooks,
    run_id: str,
    observed: list[Observation],
    outside: dict[AssetKey, list[str]],
) -> ObserveResult:
    """Record what the observe functions returned, as one run."""
    absent = [o for o in observed if o.data_version == ABSENT]
    observed = [o for o in observed if o.data_version != ABSENT]
    gone, unknown = _gone(config, graph, keys, observed, absent)
    absent += gone
    at = time.time()
    found, lost = (
        tuple(
            Observed(key=o.key, partition=o.partition, data_version=o.data_version, at=at)
            for o in group
        )
        for group in (observed, absent)
    )
    # what it observed, not what was selected (every asset of the project, by default)
    selection = "observe " + " ".join(dict.fromkeys(str(o.key) for o in observed))
    with RecordedRun(
        config, kind=RunKind.OBSERVE, selection=selection, hooks=hooks, run_id=run_id
    ) as run:
        for key, skipped in outside.items():
            run.notice(
                f"{key}: left out {len(skipped)} partition key{'s' * (len(skipped) != 1)} "
                f"outside its partitions ({_shown(skipped)}): they are observed once they "
                "are in the definition (a time window, once it has closed)"
            )
        for o in absent:
            where = f" partition {o.partition}" if o.partition else ""
            run.notice(f"{o.key}{where} is no longer there: recorded absent, its readers wait")
        if unknown:
            run.notice(unknown)
        seq = run.seq()
        hooks.observed(run.info, found)
        run.append(*(observation_record(run_id, o, seq) for o in (*found, *lost)))
        run.finish(RunStatus.SUCCEEDED, succeeded_count=len(found))
    return ObserveResult(
        run_id=run_id, observations=tuple(observed), index=run.index, absent=tuple(absent)
    )


ABSENT = ""  # the data version an observation of something no longer there records


def _gone(
    config: ProjectConfig,
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    observed: Sequence[Observation],
    absent: Sequence[Observation],
) -> tuple[list[Observation], str | None]:
    """Partitions observed present before that the partitioned sources observed now no
    longer return (and the notice to give when the state cannot be read)."""
    from assay.errors import StateLockedError
    from assay.state.reader import StateReader

    partitioned = [k for k in keys if graph.specs[k].is_observable and graph.specs[k].partitions]
    if not partitioned:
        return [], None
    try:
        before = StateReader(config.home).observed_partitions([str(k) for k in partitioned])
    except StateLockedError as exc:
        return [], f"could not tell which partitions disappeared ({exc}): none recorded absent"
    now = {(o.key, o.partition) for o in (*observed, *absent)}
    return [
        Observation(key=key, partition=partition, data_version=ABSENT)
        for key in partitioned
        for partition in before.get(str(key), ())
        if (key, partition) not in now
    ], None


def _shown(keys: list[str]) -> str:
    return ", ".join(keys[:5]) + (f", … ({len(keys)})" if len(keys) > 5 else "")


def _versions(
    key: AssetKey,
    returned: object,
    partitions: Any,
    context: PartitionContext,
    outside: dict[AssetKey, list[str]],
) -> list[Observation]:
    """What an observe function returned, checked: keys outside the source's partitions
    go to `outside` (not recorded); None is absent."""
    if partitions is None:
        if returned is None:
            return [Observation(key=key, partition=None, data_version=ABSENT)]
        if not isinstance(returned, str) or not returned:
            raise ObservationError(
                f"the observe function of {key} returned {returned!r}; return the data "
                "version as a non-empty string (a file hash, a modification time, a row "
                "count), or None when the data is not there"
            )
        return [Observation(key=key, partition=None, data_version=returned)]
    if not isinstance(returned, Mapping):
        raise ObservationError(
            f"the observe function of partitioned {key} returned {type(returned).__name__}; "
            "return a dict from partition key to data version"
        )
    found = []
    for partition, version in returned.items():
        try:
            validate_partition_key(partition)
            partitions.index(partition, context)
        except PartitionKeyError:
            outside.setdefault(key, []).append(str(partition))
            continue
        if version is None:
            found.append(Observation(key=key, partition=partition, data_version=ABSENT))
            continue
        if not isinstance(version, str) or not version:
            raise ObservationError(
                f"the observe function of {key} returned {version!r} for partition "
                f"{partition!r}; versions are non-empty strings"
            )
        found.append(Observation(key=key, partition=partition, data_version=version))
    return found
