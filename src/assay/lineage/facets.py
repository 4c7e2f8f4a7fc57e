"""OpenLineage facets and events as plain dicts, in the form the state store keeps.

Events are built straight in their compact form (`lineage.compact`): the
OpenLineage fields and facets, key for key in the order the client's v2 classes
write them, without the boilerplate `compact.full_event` puts back (each facet's
`_producer` and `_schemaURL`, the event's `schemaURL`, the client's empty
defaults). So a step's events cost two small dicts and one `orjson.dumps`, and no
run imports `openlineage` (its client takes ~0.4 s to import); the whole event
(`LineageEvent.json`) is rebuilt only for what sends it. tests/unit/lineage pins
the form: the whole event validates against the official schemas and compacts
back to what was built.

Facets assay reuses (jobs, parents, schemas, symlinks) are built once and shared:
nothing may change a dict these functions return.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import orjson

from assay.lineage.naming import (
    INTEGRATION,
    PRODUCER,
    SYMLINK_TYPE,
    AssetJob,
    DatasetRef,
    RunRef,
    StepLineage,
)
from assay.version import __version__

if TYPE_CHECKING:
    from assay.results import StepResult

Facets = dict[str, Any]

# the fields of the client's `Assertion`, in its order (items are written in it)
ASSERTION_FIELDS = (
    "assertion",
    "success",
    "column",
    "severity",
    "name",
    "description",
    "expected",
    "actual",
    "content",
    "contentType",
    "params",
)


def provenance_facet(plan: StepLineage) -> Facets:
    """What one materialization read: its code version and, per input asset, the
    partitions read and a digest of their data versions."""
    facet: Facets = {}
    if plan.job.code_version is not None:
        facet["codeVersion"] = plan.job.code_version
    if plan.partition is not None:
        facet["partition"] = plan.partition
    if plan.config is not None:
        facet["config"] = orjson.loads(plan.config)
    facet["inputs"] = orjson.loads(plan.provenance) if plan.provenance else {}
    return facet


ENGINE_FACET: Facets = {
    "version": __version__,
    "name": "assay",
    "openlineageAdapterVersion": __version__,
}


@functools.cache
def job_type_facet(job_type: str) -> Facets:
    return {"processingType": "BATCH", "integration": INTEGRATION, "jobType": job_type}


@functools.lru_cache(maxsize=4096)
def asset_job(job: AssetJob, name: str, job_type: str) -> Facets:
    """The job of an asset's runs (`name`: the asset, or its `.checks` job)."""
    facets: Facets = {"jobType": job_type_facet(job_type)}
    if job.description:
        facets["documentation"] = {"description": job.description}
    if job.owners:
        facets["ownership"] = {"owners": [{"name": owner} for owner in job.owners]}
    tags = [("group", job.group)] if job.group else []
    tags += list(job.tags)
    if tags:
        facets["tags"] = {"tags": [{"key": k, "value": v, "source": INTEGRATION} for k, v in tags]}
    return {"namespace": job.namespace, "name": name, "facets": facets}


def run_job(run: RunRef, job_type: str) -> Facets:
    return {
        "namespace": run.namespace,
        "name": run.name,
        "facets": {"jobType": job_type_facet(job_type)},
    }


@functools.lru_cache(maxsize=256)
def parent_facet(parent: RunRef, root: RunRef) -> Facets:
    return {
        "run": {"runId": parent.run_id},
        "job": {"namespace": parent.namespace, "name": parent.name},
        "root": {
            "run": {"runId": root.run_id},
            "job": {"namespace": root.namespace, "name": root.name},
        },
    }


def error_facet(message: str | None, trace: str | None) -> Facets:
    facet: Facets = {"message": message or "failed", "programmingLanguage": "python"}
    if trace is not None:
        facet["stackTrace"] = trace
    return facet


def nominal_facet(window: tuple[str, str]) -> Facets:
    return {"nominalStartTime": window[0], "nominalEndTime": window[1]}


@functools.lru_cache(maxsize=4096)
def symlinks_facet(namespace: str, asset_key: str | None) -> Facets:
    identifier: Facets = {"namespace": namespace}
    if asset_key is not None:
        identifier["name"] = asset_key
    identifier["type"] = SYMLINK_TYPE
    return {"identifiers": [identifier]}


@functools.lru_cache(maxsize=4096)
def schema_facet(columns: tuple[tuple[str, str], ...]) -> Facets:
    return {"fields": [{"name": n, "type": t} for n, t in columns]}


# The data source of a stored output is its dataset's own (its namespace, and its
# URI): the compact form keeps it as an empty facet, which `full_event` fills.
OWN_SOURCE: Facets = {}


def dataset_facets(dataset: DatasetRef, namespace: str) -> Facets:
    facets: Facets = {}
    if dataset.asset_key:
        facets["symlinks"] = symlinks_facet(namespace, dataset.asset_key)
    if dataset.version:
        facets["version"] = {"datasetVersion": dataset.version}
    return facets


def input_dataset(
    dataset: DatasetRef, namespace: str, *, quality: list[Facets] | None = None
) -> Facets:
    """An input with the partitions read and, for a check run's end, its verdicts
    (`dataQualityAssertions` items)."""
    input_facets: Facets = {}
    condition = subset_condition(dataset)
    if condition is not None:
        input_facets["subset"] = {"inputCondition": condition}
    if quality is not None:
        input_facets["dataQualityAssertions"] = {"assertions": quality}
    return {
        "namespace": dataset.namespace,
        "name": dataset.name,
        "facets": dataset_facets(dataset, namespace),
        "inputFacets": input_facets,
    }


def output_dataset(
    dataset: DatasetRef, namespace: str, *, result: StepResult | None = None
) -> Facets:
    """An output with the partitions written and, once stored, its schema and size."""
    facets = dataset_facets(dataset, namespace)
    output_facets: Facets = {}
    condition = subset_condition(dataset)
    if condition is not None:
        output_facets["subset"] = {"outputCondition": condition}
    stored = None if result is None else result.stored
    if stored is not None:
        facets["schema"] = schema_facet(stored.columns)
        facets["dataSource"] = OWN_SOURCE
        statistics: Facets = {}
        if stored.row_count is not None:
            statistics["rowCount"] = stored.row_count
        if stored.byte_size is not None:
            statistics["size"] = stored.byte_size
        output_facets["outputStatistics"] = statistics
    return {
        "namespace": dataset.namespace,
        "name": dataset.name,
        "facets": facets,
        "outputFacets": output_facets,
    }


def assertion(item: dict[str, Any]) -> Facets:
    """A `dataQualityAssertions` item, its fields in the client's order."""
    return {name: item[name] for name in ASSERTION_FIELDS if item.get(name) is not None}


def subset_condition(dataset: DatasetRef) -> Facets | None:
    """The partitions read or written as a subset condition: listed when few, else
    `partition` ranges (keys compare in partition order for time partitions)."""
    if dataset.keys is not None:
        return {
            "partitions": [{"dimensions": {"partition": k}} for k in dataset.keys],
            "type": "partition",
        }
    if not dataset.ranges:
        return None
    condition = _between(*dataset.ranges[0])
    for first, last in dataset.ranges[1:]:
        condition = _binary(condition, _between(first, last), "OR")
    return condition


def _between(first: str, last: str) -> Facets:
    return _binary(_compare("GREATER_EQUAL_THAN", first), _compare("LESS_EQUAL_THAN", last), "AND")


def _compare(op: str, value: str) -> Facets:
    return {
        "left": {"field": "partition", "type": "field"},
        "right": {"value": value, "type": "literal"},
        "comparison": op,
        "type": "compare",
    }


def _binary(left: Facets, right: Facets, operator: str) -> Facets:
    return {"left": left, "right": right, "operator": operator, "type": "binary"}


def run_event_dict(
    state: str,
    at: str,
    run_id: str,
    run_facets: Facets,
    job: Facets,
    inputs: list[Facets],
    outputs: list[Facets],
) -> Facets:
    """A RunEvent in its compact form (keys in the client's order)."""
    return {
        "eventTime": at,
        "producer": PRODUCER,
        "run": {"runId": run_id, "facets": run_facets},
        "job": job,
        "eventType": state,
        "inputs": inputs,
        "outputs": outputs,
    }


def dataset_event_dict(at: str, dataset: DatasetRef, facets: Facets) -> Facets:
    """A DatasetEvent in its compact form."""
    return {
        "eventTime": at,
        "producer": PRODUCER,
        "dataset": {"namespace": dataset.namespace, "name": dataset.name, "facets": facets},
    }


def dumps(event: Facets) -> str:
    """The event's JSON text (orjson: ~15x faster than json on events of kilobytes)."""
    return orjson.dumps(event).decode()
