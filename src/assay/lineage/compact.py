"""Events as the state store keeps them: the same JSON without what can be rebuilt.

An OpenLineage event repeats boilerplate in every facet: its `_producer` (the
event's own `producer`, here always) and its `_schemaURL` (fixed per facet), and
the event's `schemaURL` (fixed per kind of event). On a step's events that is
more than half the bytes. The store keeps each event without the boilerplate
that equals what `full_event` puts back, so `full_event(compact_event(e)) == e`,
key order included; anything else (a facet from another producer, a schema URL
assay does not know) is kept as it is. The compact form is still the event's
JSON: SQL on `lineage_events.event` reads every field people query
(`event ->> '$.run.facets.errorMessage.message'`).

Everything that hands events on (`Lineage.events()`, `assay lineage send`)
gives them back whole, and `full_event` of a whole event is the event itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/"
_FACETS = "https://openlineage.io/spec/facets/"


def _url(version: str, file: str, definition: str | None = None) -> str:
    return f"{_FACETS}{version}/{file}.json#/$defs/{definition or file}"


# The schema of each facet assay emits, by where it sits and its name: what the
# openlineage client's facet classes say (tests/unit/lineage pins them).
SCHEMA_URLS: dict[tuple[str, str], str] = {
    ("run", "parent"): _url("1-2-0", "ParentRunFacet"),
    ("run", "nominalTime"): _url("1-0-1", "NominalTimeRunFacet"),
    ("run", "processing_engine"): _url("1-1-1", "ProcessingEngineRunFacet"),
    ("run", "errorMessage"): _url("1-0-1", "ErrorMessageRunFacet"),
    ("run", "assay_provenance"): (
        "https://raw.githubusercontent.com/assay-data/assay/main/src/assay/lineage/spec/"
        "AssayProvenanceRunFacet.json#/$defs/AssayProvenanceRunFacet"
    ),
    ("job", "jobType"): _url("2-0-4", "JobTypeJobFacet"),
    ("job", "documentation"): _url("1-1-0", "DocumentationJobFacet"),
    ("job", "ownership"): _url("1-0-1", "OwnershipJobFacet"),
    ("job", "tags"): _url("1-0-0", "TagsJobFacet"),
    ("dataset", "symlinks"): _url("1-0-1", "SymlinksDatasetFacet"),
    ("dataset", "version"): _url("1-0-1", "DatasetVersionDatasetFacet"),
    ("dataset", "schema"): _url("1-2-0", "SchemaDatasetFacet"),
    ("dataset", "dataSource"): _url("1-0-1", "DatasourceDatasetFacet"),
    ("inputFacets", "subset"): _url(
        "1-0-0", "BaseSubsetDatasetFacet", "InputSubsetInputDatasetFacet"
    ),
    ("inputFacets", "dataQualityAssertions"): _url("1-1-0", "DataQualityAssertionsDatasetFacet"),
    ("outputFacets", "subset"): _url(
        "1-0-0", "BaseSubsetDatasetFacet", "OutputSubsetOutputDatasetFacet"
    ),
    ("outputFacets", "outputStatistics"): _url("1-0-2", "OutputStatisticsOutputDatasetFacet"),
}


def event_kind(event: dict[str, Any]) -> str:
    if "run" in event:
        return "RunEvent"
    return "DatasetEvent" if "dataset" in event else "JobEvent"


def compact_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event without what `full_event` rebuilds (a new dict: the event and its
    facets are left as they are)."""
    producer = event.get("producer")
    out = {
        name: value
        for name, value in event.items()
        if not (name == "schemaURL" and value == EVENT_SCHEMA + event_kind(event))
    }

    def strip(kind: str, name: str, facet: Any, owner: dict[str, Any] | None) -> Any:
        if not isinstance(facet, dict) or facet.get("_producer") != producer:
            return facet  # another producer's: kept whole
        url = SCHEMA_URLS.get((kind, name))
        if url is None or facet.get("_schemaURL") != url:
            return facet
        rest = {k: v for k, v in facet.items() if k not in ("_producer", "_schemaURL")}
        codec = _CODECS.get((kind, name))
        return rest if codec is None else codec[0](rest, owner)

    return _map_facets(out, strip)


def full_event(event: dict[str, Any]) -> dict[str, Any]:
    """The whole event from its compact form (a whole event comes back as it is)."""
    producer = event.get("producer")
    out: dict[str, Any] = {}
    for name, value in event.items():
        out[name] = value
        if name == "producer" and "schemaURL" not in event:
            out["schemaURL"] = EVENT_SCHEMA + event_kind(event)

    def fill(kind: str, name: str, facet: Any, owner: dict[str, Any] | None) -> Any:
        if not isinstance(facet, dict) or "_producer" in facet or "_schemaURL" in facet:
            return facet  # whole already
        url = SCHEMA_URLS.get((kind, name))
        if url is None:
            return facet
        codec = _CODECS.get((kind, name))
        rest = facet if codec is None else codec[1](facet, owner)
        return {"_producer": producer, "_schemaURL": url, **rest}

    return _map_facets(out, fill)


def compact_json(text: str) -> str:
    return orjson.dumps(compact_event(orjson.loads(text))).decode()


def full_json(text: str) -> str:
    """A stored event's JSON, whole."""
    return orjson.dumps(full_event(orjson.loads(text))).decode()


# What else assay's own facets carry that can be rebuilt: the client's defaults
# (empty `facets` of a parent's references, empty `fields` of a schema's columns,
# empty `params` of an assertion), a data source that is the dataset's own, and a
# listed partition's identifier (its `partition` dimension). Each pair is
# (strip, fill); strip leaves alone what fill would not rebuild exactly.

Owner = dict[str, Any] | None


def _strip_parent(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
    out = dict(facet)
    for key in ("run", "job"):
        out[key] = _drop_empty(out.get(key), "facets", {})
    root = out.get("root")
    if isinstance(root, dict):
        out["root"] = {
            **root,
            **{k: _drop_empty(root.get(k), "facets", {}) for k in ("run", "job") if k in root},
        }
    return out


def _fill_parent(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
    out = dict(facet)
    for key in ("run", "job"):
        out[key] = _add_empty(out.get(key), "facets", {})
    root = out.get("root")
    if isinstance(root, dict):
        out["root"] = {
            **root,
            **{k: _add_empty(root.get(k), "facets", {}) for k in ("run", "job") if k in root},
        }
    return out


def _list_codec(field: str, key: str, empty: Any) -> tuple[Any, Any]:
    def strip(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
        items = facet.get(field)
        if not isinstance(items, list):
            return facet
        return {**facet, field: [_drop_empty(item, key, empty) for item in items]}

    def fill(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
        items = facet.get(field)
        if not isinstance(items, list):
            return facet
        return {**facet, field: [_add_empty(item, key, empty) for item in items]}

    return strip, fill


def _own_source(owner: Owner) -> dict[str, Any] | None:
    if not owner or "namespace" not in owner or "name" not in owner:
        return None
    namespace, name = owner["namespace"], owner["name"]
    uri = f"file://{name}" if namespace == "file" else namespace
    return {"name": namespace, "uri": uri}


def _strip_source(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
    return {} if facet == _own_source(owner) else facet


def _fill_source(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
    return facet or _own_source(owner) or {}


def _subset_codec(field: str) -> tuple[Any, Any]:
    def strip(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
        condition = facet.get(field)
        if not isinstance(condition, dict) or not isinstance(condition.get("partitions"), list):
            return facet
        listed = []
        for item in condition["partitions"]:
            if (
                isinstance(item, dict)
                and list(item) == ["dimensions", "identifier"]
                and item["dimensions"] == {"partition": item["identifier"]}
            ):
                item = {"dimensions": item["dimensions"]}
            listed.append(item)
        return {**facet, field: {**condition, "partitions": listed}}

    def fill(facet: dict[str, Any], owner: Owner) -> dict[str, Any]:
        condition = facet.get(field)
        if not isinstance(condition, dict) or not isinstance(condition.get("partitions"), list):
            return facet
        listed = []
        for item in condition["partitions"]:
            dimensions = item.get("dimensions") if isinstance(item, dict) else None
            if (
                list(item) == ["dimensions"]
                and isinstance(dimensions, dict)
                and list(dimensions) == ["partition"]
            ):
                item = {**item, "identifier": dimensions["partition"]}
            listed.append(item)
        return {**facet, field: {**condition, "partitions": listed}}

    return strip, fill


def _drop_empty(part: Any, key: str, empty: Any) -> Any:
    if isinstance(part, dict) and key in part and part[key] == empty and list(part)[-1] == key:
        return {k: v for k, v in part.items() if k != key}
    return part


def _add_empty(part: Any, key: str, empty: Any) -> Any:
    if isinstance(part, dict) and key not in part:
        return {**part, key: type(empty)()}
    return part


_CODECS: dict[tuple[str, str], tuple[Any, Any]] = {
    ("run", "parent"): (_strip_parent, _fill_parent),
    ("dataset", "schema"): _list_codec("fields", "fields", []),
    ("dataset", "dataSource"): (_strip_source, _fill_source),
    ("inputFacets", "dataQualityAssertions"): _list_codec("assertions", "params", {}),
    ("inputFacets", "subset"): _subset_codec("inputCondition"),
    ("outputFacets", "subset"): _subset_codec("outputCondition"),
}


Facet = Callable[[str, str, Any, "dict[str, Any] | None"], Any]


def _map_facets(event: dict[str, Any], fn: Facet) -> dict[str, Any]:
    """The event with `fn(kind, name, facet, dataset)` for each facet; kind is where
    it sits (run, job, dataset, inputFacets or outputFacets), dataset the dataset
    it belongs to (None for run and job facets). Dicts on the way are copied
    (parts of an event may be shared with others: the facets assay reuses)."""
    out = dict(event)
    for where in ("run", "job"):
        part = out.get(where)
        if isinstance(part, dict) and isinstance(part.get("facets"), dict):
            out[where] = {**part, "facets": _each(where, part["facets"], fn, None)}
    for side in ("inputs", "outputs"):
        if isinstance(out.get(side), list):
            out[side] = [_dataset(dataset, fn) for dataset in out[side]]
    if isinstance(out.get("dataset"), dict):
        out["dataset"] = _dataset(out["dataset"], fn)
    return out


def _dataset(dataset: Any, fn: Facet) -> Any:
    if not isinstance(dataset, dict):
        return dataset
    out = dict(dataset)
    for group, kind in (
        ("facets", "dataset"),
        ("inputFacets", "inputFacets"),
        ("outputFacets", "outputFacets"),
    ):
        if isinstance(out.get(group), dict):
            out[group] = _each(kind, out[group], fn, dataset)
    return out


def _each(kind: str, facets: dict[str, Any], fn: Facet, owner: Owner) -> dict[str, Any]:
    return {name: fn(kind, name, facet, owner) for name, facet in facets.items()}
