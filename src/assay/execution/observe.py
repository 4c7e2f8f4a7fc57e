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
from assay.execution.hooks import Observed
from assay.execution.recorder import RecordedRun
from assay.execution.records import observation_record
from assay.execution.user_code import describe_exception
from assay.keys import validate_partition_key
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


def run_observation(
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    context: PartitionContext,
    hooks: RunHooks,
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
        observed.extend(_versions(key, returned, spec.partitions, context))
    at = time.time()
    found = tuple(
        Observed(key=o.key, partition=o.partition, data_version=o.data_version, at=at)
        for o in observed
    )
    # what it observed, not what was selected (every asset of the project, by default)
    selection = "observe " + " ".join(dict.fromkeys(str(o.key) for o in observed))
    with RecordedRun(
        config, kind=RunKind.OBSERVE, selection=selection, hooks=hooks, run_id=run_id
    ) as run:
        seq = run.seq()
        hooks.observed(run.info, found)
        run.append(*(observation_record(run_id, o, seq) for o in found))
        run.finish(RunStatus.SUCCEEDED, succeeded_count=len(found))
    return ObserveResult(run_id=run_id, observations=tuple(observed), index=run.index)


def _versions(
    key: AssetKey, returned: object, partitions: Any, context: PartitionContext
) -> list[Observation]:
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
        partitions.index(partition, context)
        if not isinstance(version, str) or not version:
            raise ObservationError(
                f"the observe function of {key} returned {version!r} for partition "
                f"{partition!r}; versions are non-empty strings"
            )
        found.append(Observation(key=key, partition=partition, data_version=version))
    return found
