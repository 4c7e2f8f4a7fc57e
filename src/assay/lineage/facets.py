"""OpenLineage facets and events as the client's v2 classes, and their JSON.

`openlineage` is imported on first use (`ol_classes()`), never at import: the
CLI's start-up does not pay for it. The facets assay reuses (jobs, parents,
schemas, symlinks) are built once and serialized once (`static`).
"""

from __future__ import annotations

import functools
import json
from enum import Enum
from typing import TYPE_CHECKING, Any

from assay.lineage.compact import compact_event
from assay.lineage.naming import (
    INTEGRATION,
    PRODUCER,
    PROVENANCE_SCHEMA_URL,
    SYMLINK_TYPE,
    AssetJob,
    DatasetRef,
    RunRef,
    StepLineage,
)
from assay.version import __version__

if TYPE_CHECKING:
    from assay.results import StepResult


class OLClasses:
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
        self.ProvenanceFacet = provenance_class(facet_v2.RunFacet)


@functools.cache
def ol_classes() -> OLClasses:
    return OLClasses()


def provenance_class(base: Any) -> Any:
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


def provenance_facet(plan: StepLineage) -> Any:
    read = json.loads(plan.provenance) if plan.provenance else {}
    return ol_classes().ProvenanceFacet(
        codeVersion=plan.job.code_version,
        partition=plan.partition,
        inputs=read,
        producer=PRODUCER,
    )


@functools.cache
def engine_facet() -> Any:
    return static(
        ol_classes().f.processing_engine_run.ProcessingEngineRunFacet(
            version=__version__,
            name="assay",
            openlineageAdapterVersion=__version__,
            producer=PRODUCER,
        )
    )


@functools.cache
def job_type_facet(job_type: str) -> Any:
    return static(
        ol_classes().f.job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration=INTEGRATION, jobType=job_type, producer=PRODUCER
        )
    )


def asset_job_facet(job: AssetJob, name: str, job_type: str) -> Any:
    return _cached_job(job, name, job_type)


@functools.lru_cache(maxsize=4096)
def _cached_job(job: AssetJob, name: str, job_type: str) -> Any:
    ol = ol_classes()
    facets: dict[str, Any] = {"jobType": job_type_facet(job_type)}
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
    return static(ol.Job(namespace=job.namespace, name=name, facets=facets))


def parent_facet(parent: RunRef, root: RunRef) -> Any:
    return _cached_parent(parent, root)


@functools.lru_cache(maxsize=256)
def _cached_parent(parent: RunRef, root: RunRef) -> Any:
    p = ol_classes().f.parent_run
    return static(
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


def error_facet(message: str | None, trace: str | None) -> Any:
    return ol_classes().f.error_message_run.ErrorMessageRunFacet(
        message=message or "failed",
        programmingLanguage="python",
        stackTrace=trace,
        producer=PRODUCER,
    )


def symlinks_facet(dataset: DatasetRef, namespace: str) -> Any:
    return _cached_symlinks(namespace, dataset.asset_key)


@functools.lru_cache(maxsize=4096)
def _cached_symlinks(namespace: str, asset_key: str | None) -> Any:
    s = ol_classes().f.symlinks_dataset
    return static(
        s.SymlinksDatasetFacet(
            identifiers=[s.Identifier(namespace=namespace, name=asset_key, type=SYMLINK_TYPE)],
            producer=PRODUCER,
        )
    )


@functools.lru_cache(maxsize=4096)
def schema_facet(columns: tuple[tuple[str, str], ...]) -> Any:
    s = ol_classes().f.schema_dataset
    return static(
        s.SchemaDatasetFacet(
            fields=[s.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns],
            producer=PRODUCER,
        )
    )


@functools.lru_cache(maxsize=4096)
def datasource_facet(namespace: str, uri: str) -> Any:
    return static(
        ol_classes().f.datasource_dataset.DatasourceDatasetFacet(
            name=namespace, uri=uri, producer=PRODUCER
        )
    )


def dataset_facets(dataset: DatasetRef, namespace: str) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if dataset.asset_key:
        facets["symlinks"] = symlinks_facet(dataset, namespace)
    if dataset.version:
        facets["version"] = ol_classes().f.dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version, producer=PRODUCER
        )
    return facets


def input_dataset(dataset: DatasetRef, namespace: str, *, quality: Any = None) -> Any:
    ol = ol_classes()
    input_facets: dict[str, Any] = {}
    condition = subset_condition(dataset)
    if condition is not None:
        input_facets["subset"] = ol.f.base_subset_dataset.InputSubsetInputDatasetFacet(
            inputCondition=condition, producer=PRODUCER
        )
    if quality is not None:
        input_facets["dataQualityAssertions"] = quality
    return ol.InputDataset(
        namespace=dataset.namespace,
        name=dataset.name,
        facets=dataset_facets(dataset, namespace),
        inputFacets=input_facets,
    )


def output_dataset(dataset: DatasetRef, namespace: str, *, result: StepResult | None = None) -> Any:
    ol = ol_classes()
    facets = dataset_facets(dataset, namespace)
    output_facets: dict[str, Any] = {}
    condition = subset_condition(dataset)
    if condition is not None:
        output_facets["subset"] = ol.f.base_subset_dataset.OutputSubsetOutputDatasetFacet(
            outputCondition=condition, producer=PRODUCER
        )
    stored = None if result is None else result.stored
    if stored is not None:
        facets["schema"] = schema_facet(stored.columns)
        facets["dataSource"] = datasource_facet(dataset.namespace, dataset_uri(dataset))
        output_facets["outputStatistics"] = (
            ol.f.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=stored.row_count, size=stored.byte_size, producer=PRODUCER
            )
        )
    return ol.OutputDataset(
        namespace=dataset.namespace, name=dataset.name, facets=facets, outputFacets=output_facets
    )


def dataset_uri(dataset: DatasetRef) -> str:
    if dataset.namespace == "file":
        return f"file://{dataset.name}"
    return dataset.namespace


def subset_condition(dataset: DatasetRef) -> Any:
    """The partitions read or written as a subset condition: listed when few, else
    `partition` ranges (keys compare in partition order for time partitions)."""
    b = ol_classes().f.base_subset_dataset
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
    return json.dumps(plain(event), separators=(",", ":"))


def to_json_pair(event: Any) -> tuple[str, str]:
    """The event's JSON (`to_json`) and the compact JSON the state store keeps of it
    (`compact.compact_event`), from one conversion."""
    data = plain(event)
    return (
        json.dumps(data, separators=(",", ":")),
        json.dumps(compact_event(data), separators=(",", ":")),
    )


_STATIC: dict[int, tuple[Any, dict[str, Any]]] = {}  # id -> (object, its plain form)
_FIELDS: dict[type, tuple[str, ...]] = {}


def static(obj: Any) -> Any:
    """Mark a built object as never changing again: its plain form is kept."""
    _STATIC[id(obj)] = (obj, plain(obj))
    return obj


def plain(obj: Any) -> Any:
    """An attrs object as JSON-ready dicts and lists, without None values."""
    cached = _STATIC.get(id(obj))
    if cached is not None and cached[0] is obj:
        return cached[1]
    kind = type(obj)
    if kind is str or kind is int or kind is float or kind is bool:
        return obj
    names = _FIELDS.get(kind)
    if names is None:
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list | tuple):
            return [plain(v) for v in obj if v is not None]
        if isinstance(obj, Enum):
            return obj.value
        if not hasattr(kind, "__attrs_attrs__"):
            return obj
        names = _FIELDS[kind] = tuple(a.name for a in kind.__attrs_attrs__)
    found: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            found[name] = plain(value)
    return found
