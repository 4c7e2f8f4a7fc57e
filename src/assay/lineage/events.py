"""OpenLineage events for assay's runs, steps and checks.

Every event is built with `openlineage-python`'s v2 event and facet classes and
kept as its JSON text plus the few columns the lineage store is queried by
(`LineageEvent`). What the builders need is plain, picklable data (`StepLineage`,
`DatasetRef`) and the run's results (`assay.results`); the coordinator's
lineage subscriber (`execution.lineage_hooks`) builds them as the run goes.

`openlineage` is imported inside the builders only: the CLI's start-up never
pays for it.

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

import functools
import json
import os
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from assay.version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.results import CheckOutcome, StepResult

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
    nominal: tuple[str, str] | None = None  # the time window, RFC 3339


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageEvent:
    """One built event: its JSON and the columns the lineage store is queried by."""

    event_type: str  # START, COMPLETE, FAIL, ABORT; DATASET for a dataset event
    event_time: float
    kind: str  # asset, check, run, observation
    json: str
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
            "event": self.json,
        }


def rfc3339(at: float) -> str:
    """A timezone-aware RFC 3339 time (the schema rejects naive ones)."""
    return datetime.fromtimestamp(at, UTC).isoformat()


# ---- steps ---------------------------------------------------------------------------


def step_start(plan: StepLineage, at: float) -> LineageEvent:
    """The START of one step attempt, with what it will read and write."""
    facets = _step_facets(plan)
    facets["processing_engine"] = _engine()
    return _step_event(plan, "START", at, facets, _output(plan.output, plan.job.namespace))


def step_end(plan: StepLineage, result: StepResult) -> LineageEvent:
    """The COMPLETE (or FAIL, with the error) of one step attempt."""
    facets = _step_facets(plan)
    facets[PROVENANCE_FACET] = _provenance_facet(plan)
    if result.stored is None:
        error = result.failure
        facets["errorMessage"] = _error(
            None if error is None else error.message, None if error is None else error.traceback
        )
        out = _output(plan.output, plan.job.namespace)
        return _step_event(plan, "FAIL", result.finished_at, facets, out)
    output = replace(plan.output, version=result.stored.data_version)
    out = _output(output, plan.job.namespace, result=result)
    return _step_event(plan, "COMPLETE", result.finished_at, facets, out, output=output)


def step_abort(plan: StepLineage, at: float, reason: str) -> LineageEvent:
    """The ABORT of an attempt still running when its run stopped short."""
    facets: dict[str, Any] = {"parent": _parent(plan.parent, plan.root)}
    facets["errorMessage"] = _error(reason, None)
    return _step_event(plan, "ABORT", at, facets, _output(plan.output, plan.job.namespace))


def _step_facets(plan: StepLineage) -> dict[str, Any]:
    facets: dict[str, Any] = {"parent": _parent(plan.parent, plan.root)}
    if plan.nominal:
        facets["nominalTime"] = _ol().f.nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=plan.nominal[0], nominalEndTime=plan.nominal[1], producer=PRODUCER
        )
    return facets


def _step_event(
    plan: StepLineage,
    state: str,
    at: float,
    run_facets: dict[str, Any],
    out: Any,
    *,
    output: DatasetRef | None = None,
) -> LineageEvent:
    ol = _ol()
    event = ol.RunEvent(
        eventType=getattr(ol.RunState, state),
        eventTime=rfc3339(at),
        run=ol.Run(runId=plan.run_id, facets=run_facets),
        job=_asset_job(plan.job, plan.job.asset_key, "ASSET"),
        inputs=[_input(d, plan.job.namespace) for d in plan.inputs],
        outputs=[out],
        producer=PRODUCER,
    )
    return LineageEvent(
        event_type=state,
        event_time=at,
        kind="asset",
        json=to_json(event),
        run_id=plan.run_id,
        job_namespace=plan.job.namespace,
        job_name=plan.job.asset_key,
        asset_key=plan.job.asset_key,
        partition_key=plan.partition,
        parent_run_id=plan.parent.run_id,
        inputs=plan.inputs,
        outputs=(output or plan.output,),
    )


# ---- checks --------------------------------------------------------------------------


def check_events(
    job: AssetJob,
    dataset: DatasetRef,
    partition: str | None,
    outcomes: Sequence[CheckOutcome],
    parent: RunRef,
    root: RunRef,
) -> list[LineageEvent]:
    """One run of the `<asset>.checks` job: START and COMPLETE, or FAIL when an
    error-severity check failed or errored. Its input is the checked dataset with
    one `dataQualityAssertions` item per check (per column check, for a schema)."""
    if not outcomes:
        return []
    ol = _ol()
    run_id = new_run_id()
    name = job.asset_key + CHECKS_SUFFIX
    started = min(o.checked_at for o in outcomes)
    ended = max(o.checked_at for o in outcomes)
    assertions = [
        ol.f.data_quality_assertions_dataset.Assertion(**item)
        for outcome in outcomes
        for item in outcome.assertions()
    ]
    checked = _input(
        dataset,
        job.namespace,
        quality=ol.f.data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=assertions, producer=PRODUCER
        ),
    )
    bad = [o for o in outcomes if not o.passed and o.severity == "error"]
    state = "FAIL" if bad else "COMPLETE"
    ol_job = _asset_job(job, name, "CHECK")
    parent_facet = _parent(parent, root)
    events = []
    for kind, at in (("START", started), (state, ended)):
        facets: dict[str, Any] = {"parent": parent_facet}
        if kind == "FAIL":
            facets["errorMessage"] = _error("; ".join(o.describe() for o in bad), None)
        event = ol.RunEvent(
            eventType=getattr(ol.RunState, kind),
            eventTime=rfc3339(at),
            run=ol.Run(runId=run_id, facets=facets),
            job=ol_job,
            inputs=[checked],
            outputs=[],
            producer=PRODUCER,
        )
        events.append(
            LineageEvent(
                event_type=kind,
                event_time=at,
                kind="check",
                json=to_json(event),
                run_id=run_id,
                job_namespace=job.namespace,
                job_name=name,
                asset_key=job.asset_key,
                partition_key=partition,
                parent_run_id=parent.run_id,
                inputs=(dataset,),
            )
        )
    return events


# ---- assay runs and observations -----------------------------------------------------


def run_event(
    run: RunRef,
    state: str,
    at: float,
    *,
    parent: RunRef | None = None,
    error: str | None = None,
    job_type: str = "RUN",
) -> LineageEvent:
    """An event of an assay run's own job (its steps' parent)."""
    ol = _ol()
    facets: dict[str, Any] = {}
    if parent is not None:
        facets["parent"] = _parent(parent, parent)
    if state == "START":
        facets["processing_engine"] = _engine()
    if error:
        facets["errorMessage"] = _error(error, None)
    event = ol.RunEvent(
        eventType=getattr(ol.RunState, state),
        eventTime=rfc3339(at),
        run=ol.Run(runId=run.run_id, facets=facets),
        job=ol.Job(
            namespace=run.namespace,
            name=run.name,
            facets={"jobType": _job_type(job_type)},
        ),
        inputs=[],
        outputs=[],
        producer=PRODUCER,
    )
    return LineageEvent(
        event_type=state,
        event_time=at,
        kind="run",
        json=to_json(event),
        run_id=run.run_id,
        job_namespace=run.namespace,
        job_name=run.name,
        parent_run_id=None if parent is None else parent.run_id,
    )


def observation_event(
    dataset: DatasetRef, namespace: str, partition: str | None, at: float
) -> LineageEvent:
    """A dataset event for an observed source asset: its new data version."""
    ol = _ol()
    facets: dict[str, Any] = {"symlinks": _symlinks(dataset, namespace)}
    if dataset.version:
        facets["version"] = ol.f.dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version, producer=PRODUCER
        )
    event = ol.DatasetEvent(
        eventTime=rfc3339(at),
        dataset=ol.StaticDataset(namespace=dataset.namespace, name=dataset.name, facets=facets),
        producer=PRODUCER,
    )
    return LineageEvent(
        event_type="DATASET",
        event_time=at,
        kind="observation",
        json=to_json(event),
        asset_key=dataset.asset_key,
        partition_key=partition,
        outputs=(dataset,),
    )


# ---- pieces --------------------------------------------------------------------------


class _OL:
    """The openlineage classes, imported on first use."""

    def __init__(self) -> None:
        from openlineage.client import event_v2, facet_v2

        self.f = facet_v2
        self.RunEvent = event_v2.RunEvent
        self.DatasetEvent = event_v2.DatasetEvent
        self.StaticDataset = event_v2.StaticDataset
        self.RunState = event_v2.RunState
        self.Run = event_v2.Run
        self.Job = event_v2.Job
        self.InputDataset = event_v2.InputDataset
        self.OutputDataset = event_v2.OutputDataset
        self.ProvenanceFacet = _provenance_class(facet_v2.RunFacet)


@functools.cache
def _ol() -> _OL:
    return _OL()


def _provenance_class(base: Any) -> Any:
    import attr

    @attr.define
    class AssayProvenanceRunFacet(base):  # type: ignore[misc]
        """What one materialization read: its code version and, per input asset,
        the partitions read and a digest of their data versions."""

        codeVersion: str | None = attr.field(default=None)
        partition: str | None = attr.field(default=None)
        inputs: dict[str, Any] = attr.field(factory=dict)

        @staticmethod
        def _get_schema() -> str:
            return PROVENANCE_SCHEMA_URL

    return AssayProvenanceRunFacet


def _provenance_facet(plan: StepLineage) -> Any:
    read = json.loads(plan.provenance) if plan.provenance else {}
    return _ol().ProvenanceFacet(
        codeVersion=plan.job.code_version,
        partition=plan.partition,
        inputs=read,
        producer=PRODUCER,
    )


@functools.cache
def _engine() -> Any:
    return _static(
        _ol().f.processing_engine_run.ProcessingEngineRunFacet(
            version=__version__,
            name="assay",
            openlineageAdapterVersion=__version__,
            producer=PRODUCER,
        )
    )


@functools.cache
def _job_type(job_type: str) -> Any:
    return _static(
        _ol().f.job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration=INTEGRATION, jobType=job_type, producer=PRODUCER
        )
    )


def _asset_job(job: AssetJob, name: str, job_type: str) -> Any:
    return _cached_job(job, name, job_type)


@functools.lru_cache(maxsize=4096)
def _cached_job(job: AssetJob, name: str, job_type: str) -> Any:
    ol = _ol()
    facets: dict[str, Any] = {"jobType": _job_type(job_type)}
    if job.description:
        facets["documentation"] = ol.f.documentation_job.DocumentationJobFacet(
            description=job.description, producer=PRODUCER
        )
    if job.owners:
        facets["ownership"] = ol.f.ownership_job.OwnershipJobFacet(
            owners=[ol.f.ownership_job.Owner(name=owner) for owner in job.owners],
            producer=PRODUCER,
        )
    tags = [("group", job.group)] if job.group else []
    tags += list(job.tags)
    if tags:
        t = ol.f.tags_job
        facets["tags"] = t.TagsJobFacet(
            tags=[t.TagsJobFacetFields(key=k, value=v, source="ASSAY") for k, v in tags],
            producer=PRODUCER,
        )
    return _static(ol.Job(namespace=job.namespace, name=name, facets=facets))


def _parent(parent: RunRef, root: RunRef) -> Any:
    return _cached_parent(parent, root)


@functools.lru_cache(maxsize=256)
def _cached_parent(parent: RunRef, root: RunRef) -> Any:
    p = _ol().f.parent_run
    return _static(
        p.ParentRunFacet(
            run=p.Run(runId=parent.run_id),
            job=p.Job(namespace=parent.namespace, name=parent.name),
            root=p.Root(
                run=p.RootRun(runId=root.run_id),
                job=p.RootJob(namespace=root.namespace, name=root.name),
            ),
            producer=PRODUCER,
        )
    )


def _error(message: str | None, trace: str | None) -> Any:
    return _ol().f.error_message_run.ErrorMessageRunFacet(
        message=message or "failed",
        programmingLanguage="python",
        stackTrace=trace,
        producer=PRODUCER,
    )


def _symlinks(dataset: DatasetRef, namespace: str) -> Any:
    return _cached_symlinks(namespace, dataset.asset_key)


@functools.lru_cache(maxsize=4096)
def _cached_symlinks(namespace: str, asset_key: str | None) -> Any:
    s = _ol().f.symlinks_dataset
    return _static(
        s.SymlinksDatasetFacet(
            identifiers=[s.Identifier(namespace=namespace, name=asset_key, type=SYMLINK_TYPE)],
            producer=PRODUCER,
        )
    )


@functools.lru_cache(maxsize=4096)
def _schema_facet(columns: tuple[tuple[str, str], ...]) -> Any:
    s = _ol().f.schema_dataset
    return _static(
        s.SchemaDatasetFacet(
            fields=[s.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns],
            producer=PRODUCER,
        )
    )


@functools.lru_cache(maxsize=4096)
def _datasource(namespace: str, uri: str) -> Any:
    return _static(
        _ol().f.datasource_dataset.DatasourceDatasetFacet(
            name=namespace, uri=uri, producer=PRODUCER
        )
    )


def _dataset_facets(dataset: DatasetRef, namespace: str) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if dataset.asset_key:
        facets["symlinks"] = _symlinks(dataset, namespace)
    if dataset.version:
        facets["version"] = _ol().f.dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version, producer=PRODUCER
        )
    return facets


def _input(dataset: DatasetRef, namespace: str, *, quality: Any = None) -> Any:
    ol = _ol()
    input_facets: dict[str, Any] = {}
    condition = _condition(dataset)
    if condition is not None:
        input_facets["subset"] = ol.f.base_subset_dataset.InputSubsetInputDatasetFacet(
            inputCondition=condition, producer=PRODUCER
        )
    if quality is not None:
        input_facets["dataQualityAssertions"] = quality
    return ol.InputDataset(
        namespace=dataset.namespace,
        name=dataset.name,
        facets=_dataset_facets(dataset, namespace),
        inputFacets=input_facets,
    )


def _output(dataset: DatasetRef, namespace: str, *, result: StepResult | None = None) -> Any:
    ol = _ol()
    facets = _dataset_facets(dataset, namespace)
    output_facets: dict[str, Any] = {}
    condition = _condition(dataset)
    if condition is not None:
        output_facets["subset"] = ol.f.base_subset_dataset.OutputSubsetOutputDatasetFacet(
            outputCondition=condition, producer=PRODUCER
        )
    stored = None if result is None else result.stored
    if stored is not None:
        facets["schema"] = _schema_facet(stored.columns)
        facets["dataSource"] = _datasource(dataset.namespace, _uri(dataset))
        output_facets["outputStatistics"] = (
            ol.f.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=stored.row_count, size=stored.byte_size, producer=PRODUCER
            )
        )
    return ol.OutputDataset(
        namespace=dataset.namespace, name=dataset.name, facets=facets, outputFacets=output_facets
    )


def _uri(dataset: DatasetRef) -> str:
    if dataset.namespace == "file":
        return f"file://{dataset.name}"
    return dataset.namespace


def _condition(dataset: DatasetRef) -> Any:
    """The partitions read or written as a subset condition: listed when few, else
    `partition` ranges (keys compare in partition order for time partitions)."""
    b = _ol().f.base_subset_dataset
    if dataset.keys is not None:
        return b.PartitionSubsetCondition(
            partitions=[
                b.Partition(identifier=k, dimensions={"partition": k}) for k in dataset.keys
            ]
        )
    if not dataset.ranges:
        return None

    def between(first: str, last: str) -> Any:
        def compare(op: str, value: str) -> Any:
            return b.CompareSubsetCondition(
                left=b.FieldBaseCompareExpression(field="partition"),
                right=b.LiteralCompareExpression(value=value),
                comparison=op,
            )

        return b.BinarySubsetCondition(
            left=compare("GREATER_EQUAL_THAN", first),
            right=compare("LESS_EQUAL_THAN", last),
            operator="AND",
        )

    condition = between(*dataset.ranges[0])
    for first, last in dataset.ranges[1:]:
        condition = b.BinarySubsetCondition(
            left=condition, right=between(first, last), operator="OR"
        )
    return condition


def to_json(event: Any) -> str:
    """An event's JSON, as the client's `Serde` writes it (no nulls, enums as values),
    several times faster: the facets assay reuses are serialized once."""
    return json.dumps(_plain(event), separators=(",", ":"))


_STATIC: dict[int, tuple[Any, dict[str, Any]]] = {}  # id -> (object, its plain form)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _static(obj: Any) -> Any:
    """Mark a built object as never changing again: its plain form is kept."""
    _STATIC[id(obj)] = (obj, _plain(obj))
    return obj


def _plain(obj: Any) -> Any:
    """An attrs object as JSON-ready dicts and lists, without None values."""
    found = _STATIC.get(id(obj))
    if found is not None and found[0] is obj:
        return found[1]
    kind = type(obj)
    if kind is str or kind is int or kind is float or kind is bool:
        return obj
    names = _FIELDS.get(kind)
    if names is None:
        if isinstance(obj, dict):
            return {k: _plain(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list | tuple):
            return [_plain(v) for v in obj if v is not None]
        if isinstance(obj, Enum):
            return obj.value
        if not hasattr(kind, "__attrs_attrs__"):
            return obj
        names = _FIELDS[kind] = tuple(a.name for a in kind.__attrs_attrs__)
    plain = {}
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            plain[name] = _plain(value)
    return plain
