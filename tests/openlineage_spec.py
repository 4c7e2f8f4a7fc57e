"""Validate OpenLineage events against the official JSON schemas (tests/openlineage-spec/,
a copy of the OpenLineage project's spec/ folder, Apache-2.0).

The event schema checks an event's shape and that each facet carries `_producer`
and `_schemaURL`; every facet is then validated against its own schema (found
by the file name in its `_schemaURL`, whatever version the client points at),
and assay's custom facet against the schema assay publishes. Formats are
checked too: a naive `eventTime` or a run id that is not a UUID fails.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SPEC = Path(__file__).resolve().parent / "openlineage-spec"
CUSTOM = Path(__file__).resolve().parents[1] / "src" / "assay" / "lineage" / "spec"
EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


@cache
def _schemas() -> tuple[Registry, dict[str, dict[str, Any]]]:
    files = [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]
    files += sorted(CUSTOM.glob("*.json"))
    by_file: dict[str, dict[str, Any]] = {}
    resources = []
    for path in files:
        schema = json.loads(path.read_text())
        by_file[path.name] = schema
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources), by_file


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    registry, _ = _schemas()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for where in ("run", "job"):
        found += list(event.get(where, {}).get("facets", {}).items())
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for group in ("facets", "inputFacets", "outputFacets"):
            found += list(dataset.get(group, {}).items())
    if "dataset" in event:
        found += list(event["dataset"].get("facets", {}).items())
    return found


def validation_errors(event: dict[str, Any]) -> list[str]:
    """Every way `event` breaks the spec (empty when it is valid)."""
    registry, by_file = _schemas()
    core = registry.contents(EVENT_SCHEMA)
    kind = "RunEvent" if "run" in event else "DatasetEvent" if "dataset" in event else "JobEvent"
    errors = [
        f"{kind}: {e.json_path}: {e.message}"
        for e in _validator(
            {"$ref": f"{EVENT_SCHEMA}#/$defs/{kind}", "$defs": core["$defs"]}
        ).iter_errors(event)
    ]
    for name, facet in _facets(event):
        url = facet.get("_schemaURL", "")
        file = url.split("#")[0].rsplit("/", 1)[-1]
        definition = url.split("#/$defs/")[-1] if "#/$defs/" in url else None
        if file not in by_file or definition is None:
            errors.append(f"facet {name}: no local schema for {url!r}")
            continue
        schema = by_file[file]
        ref = {"$ref": f"{schema['$id']}#/$defs/{definition}"}
        errors += [
            f"facet {name}: {e.json_path}: {e.message}" for e in _validator(ref).iter_errors(facet)
        ]
    return errors


def assert_well_formed(events: list[dict]) -> None:
    """Every event is valid, and every run has one START, then one terminal event."""
    problems = [
        (e.get("eventType"), e.get("job", {}).get("name"), validation_errors(e)) for e in events
    ]
    assert [p for p in problems if p[2]] == []
    states: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if "run" in event:
            states[event["run"]["runId"]].append(event["eventType"])
    for run_id, seen in states.items():
        assert seen[0] == "START", (run_id, seen)
        assert len(seen) == 2, (run_id, seen)
        assert seen[1] in ("COMPLETE", "FAIL", "ABORT"), (run_id, seen)
