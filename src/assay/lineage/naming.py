"""What lineage names and carries: job names, run ids, dataset and job references,
and a built event (`LineageEvent`): plain, picklable values, no openlineage.

Jobs, all in one namespace (`OPENLINEAGE_NAMESPACE`, else the project's name):
    `<asset key>`           one run per materialization of one asset partition
    `<asset key>.checks`    one run per checked asset partition
    `assay.materialize`     the assay run the steps belong to (their parent)
    `assay.backfill`        a backfill: the root of its runs' steps (no events of its own)
    `assay.check`           an `assay check` run
    `assay.observe`         an `assay observe` run (its observations are dataset events)
Asset keys cannot contain dots, so no asset job collides with these names.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from assay.lineage.compact import full_json
from assay.version import __version__

PROJECT_URL = "https://github.com/assay-data/assay"
PRODUCER = f"{PROJECT_URL}/tree/v{__version__}"
PROVENANCE_FACET = "assay_provenance"
PROVENANCE_SCHEMA_URL = (
    "https://raw.githubusercontent.com/assay-data/assay/main/src/assay/lineage/spec/"
    "AssayProvenanceRunFacet.json#/$defs/AssayProvenanceRunFacet"
)
RUN_JOB = "assay.materialize"
BACKFILL_JOB = "assay.backfill"
CHECK_RUN_JOB = "assay.check"
OBSERVE_JOB = "assay.observe"
CHECKS_SUFFIX = ".checks"
SYMLINK_TYPE = "ASSET"
INTEGRATION = "ASSAY"
LISTED_PARTITIONS = 32  # a subset facet lists up to this many partitions, else ranges


def namespace_for(project_name: str) -> str:
    """The job namespace: `OPENLINEAGE_NAMESPACE`, else the project's name."""
    return os.environ.get("OPENLINEAGE_NAMESPACE") or project_name


def new_run_id() -> str:
    return str(uuid.uuid4())


def backfill_run_id(backfill_id: str) -> str:
    """A backfill's OpenLineage run id: a UUID, stable for the backfill's id."""
    try:
        return str(uuid.UUID(backfill_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{PROJECT_URL}/backfill/{backfill_id}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRef:
    """A run another run points at (its parent or root)."""

    run_id: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetRef:
    """A dataset as a step sees it: where it physically is, its asset key, the
    version read or written and the partitions involved (None: unpartitioned)."""

    namespace: str
    name: str
    asset_key: str | None
    version: str | None = None
    partitions: str | None = None  # folded, for people and the lineage store
    keys: tuple[str, ...] | None = None  # every key, when there are few
    ranges: tuple[tuple[str, str], ...] = ()  # (first, last) key ranges otherwise

    def column(self) -> dict[str, Any]:
        """The dataset as the lineage store's `inputs` / `outputs` columns hold it."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "asset_key": self.asset_key,
            "version": self.version,
            "partitions": self.partitions,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetJob:
    """What lineage says about an asset's job: static for the asset."""

    namespace: str
    asset_key: str
    description: str | None = None
    owners: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    group: str | None = None
    code_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepLineage:
    """Everything the events of one step attempt on one asset partition need."""

    run_id: str
    job: AssetJob
    partition: str | None
    parent: RunRef
    root: RunRef
    inputs: tuple[DatasetRef, ...]
    output: DatasetRef
    provenance: str | None = None  # the materialization's provenance JSON
    config: str | None = None  # the asset's run configuration, JSON
    nominal: tuple[str, str] | None = None  # the time window, RFC 3339


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageEvent:
    """One built event: the compact JSON the state store keeps of it
    (`lineage.compact`: the event without its boilerplate), its whole JSON (what
    is sent, `json`) and the columns the lineage store is queried by."""

    event_type: str  # START, COMPLETE, FAIL, ABORT; DATASET for a dataset event
    event_time: float
    kind: str  # asset, check, run, observation
    stored: str  # the compact JSON
    run_id: str | None = None
    job_namespace: str | None = None
    job_name: str | None = None
    asset_key: str | None = None
    partition_key: str | None = None
    parent_run_id: str | None = None
    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def record(self, assay_run_id: str) -> dict[str, Any]:
        """The journal record of this event."""
        return {
            "type": "lineage",
            "event_id": self.event_id,
            "run_id": assay_run_id,
            "event_type": self.event_type,
            "event_time": self.event_time,
            "kind": self.kind,
            "ol_run_id": self.run_id,
            "job_namespace": self.job_namespace,
            "job_name": self.job_name,
            "asset_key": self.asset_key,
            "partition_key": self.partition_key,
            "parent_run_id": self.parent_run_id,
            "inputs": [d.column() for d in self.inputs],
            "outputs": [d.column() for d in self.outputs],
            "event": self.stored,
        }

    @property
    def json(self) -> str:
        """The whole event, as it is sent."""
        return full_json(self.stored)


def rfc3339(at: float) -> str:
    """A timezone-aware RFC 3339 time (the schema rejects naive ones)."""
    return datetime.fromtimestamp(at, UTC).isoformat()
