"""Journal record types, each declared once: its fields, its table, how it is indexed.

A journal line is one JSON object with a `type`. Indexed types map to a table
of the state store (created by `migrations`); control types (`run_died`,
`journal_closed`) change rows that already exist, or only end their journal. `problem()` says why a
parsed line cannot be indexed, so that one bad record is quarantined instead
of blocking every other (the indexer never hands an unchecked value to DuckDB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Record = dict[str, Any]


class Conflict(StrEnum):
    """What indexing a record whose key is already stored does."""

    REPLACE = "replace"  # the later record wins (a run's or a step's status moves on)
    LATEST = "latest"  # the record with the highest `seq` wins, in whatever journal it is
    IGNORE = "ignore"  # the first one stays (an id is written once)
    APPEND = "append"  # no key constraint: each journal byte is indexed once


# field kinds: str, int, time (epoch seconds), bool, datasets (lineage inputs/outputs)
Fields = dict[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordType:
    name: str
    table: str
    key: tuple[str, ...]
    conflict: Conflict
    fields: Fields
    required: frozenset[str]


def _declare(
    name: str, table: str, key: tuple[str, ...], conflict: Conflict, fields: Fields, *required: str
) -> RecordType:
    return RecordType(
        name=name,
        table=table,
        key=key,
        conflict=conflict,
        fields=fields,
        required=frozenset((*key, *required)),
    )


RECORD_TYPES: dict[str, RecordType] = {
    t.name: t
    for t in (
        _declare(
            "run",
            "runs",
            ("run_id",),
            Conflict.REPLACE,
            {
                "run_id": "str",
                "kind": "str",
                "status": "str",
                "selection": "str",
                "command": "str",
                "started_at": "time",
                "finished_at": "time",
                "user_name": "str",
                "host": "str",
                "pid": "int",
                "process_start": "str",
                "git_commit": "str",
                "assay_version": "str",
                "step_count": "int",
                "succeeded_count": "int",
                "failed_count": "int",
                "skipped_count": "int",
                "backfill_id": "str",
                "run_key": "str",
                "targets": "str",
                "lineage_events": "int",
                "lineage_errors": "int",
                "lineage_target": "str",
                "lineage_sent": "int",
                "lineage_failed": "int",
                "lineage_error": "str",
                "config": "str",  # JSON: asset -> its configuration, for configured targets
            },
            "status",
        ),
        _declare(
            "step",
            "steps",
            ("run_id", "step_key"),
            Conflict.REPLACE,
            {
                "run_id": "str",
                "step_key": "str",
                "asset_key": "str",
                "partition_key": "str",
                "status": "str",
                "started_at": "time",
                "finished_at": "time",
                "error": "str",
                "error_type": "str",
                "error_location": "str",
                "traceback": "str",
                "skip_reason": "str",
                "attempts": "int",
            },
            "asset_key",
            "status",
        ),
        _declare(  # each of its runs journals it: its first record and its last
            "backfill",
            "backfills",
            ("backfill_id",),
            Conflict.LATEST,
            {
                "backfill_id": "str",
                "status": "str",
                "selection": "str",
                "partitions": "str",
                "is_forced": "bool",
                "executor": "str",
                "workers": "int",
                "targets": "str",
                "asset_count": "int",
                "partition_count": "int",
                "created_at": "time",
                "finished_at": "time",
                "last_run_id": "str",
                "user_name": "str",
                "command": "str",
                "seq": "int",
                "config": "str",  # JSON: asset -> its configuration, for every run of it
            },
            "status",
            "targets",
        ),
        _declare(  # asked from another process; the driver, if alive, ends it `canceled`
            "backfill_cancel",
            "backfill_cancels",
            (),
            Conflict.APPEND,
            {"backfill_id": "str", "status": "str", "at": "time", "seq": "int"},
            "backfill_id",
            "status",
        ),
        _declare(  # one evaluation of a schedule or sensor, with what it requested
            "tick",
            "ticks",
            ("tick_id",),
            Conflict.IGNORE,
            {
                "tick_id": "str",
                "name": "str",  # the schedule's or sensor's
                "kind": "str",  # schedule, sensor, file, run_status, observe
                "tick_at": "time",  # the cron instant (schedules), or the evaluation's time
                "evaluated_at": "time",
                "status": "str",  # requested, skipped, failed
                "reason": "str",
                "cursor": "str",  # where the next evaluation resumes (sensors)
                "requests": "str",  # JSON: [{run_id, run_key, command, targets, priority}]
                "session": "str",  # the daemon session (or `tick` process) that evaluated
                "seq": "int",
            },
            "name",
            "status",
        ),
        _declare(  # what became of a requested run: queued, launched, skipped, duplicate
            "run_request",
            "run_requests",
            ("run_id",),
            Conflict.LATEST,
            {
                "run_id": "str",
                "run_key": "str",
                "name": "str",
                "tick_id": "str",
                "status": "str",
                "reason": "str",
                "command": "str",  # JSON: the arguments of `assay`
                "priority": "int",
                "pid": "int",
                "at": "time",
                "seq": "int",
            },
            "run_key",
            "status",
        ),
        _declare(  # a schedule or sensor enabled or disabled (`assay schedule enable`)
            "automation",
            "automation_states",
            ("name",),
            Conflict.LATEST,
            {"name": "str", "kind": "str", "enabled": "bool", "at": "time", "seq": "int"},
            "enabled",
        ),
        _declare(  # an asset's condition first seen (or seen changed, or its code)
            "automation_asset",
            "automation_assets",
            ("asset_key",),
            Conflict.LATEST,
            {
                "asset_key": "str",
                "condition": "str",
                "code": "str",
                "since": "int",
                "since_seq": "int",
                "code_since": "int",
                "crons": "str",
                "had_history": "bool",
                "at": "time",
                "seq": "int",
            },
            "since",
        ),
        _declare(  # what an asset's condition held for at one evaluation
            "automation_evaluation",
            "automation_evaluations",
            ("tick_id", "asset_key"),
            Conflict.IGNORE,
            {
                "tick_id": "str",
                "asset_key": "str",
                "requested": "str",
                "requested_count": "int",
                "counts": "str",
                "capped": "int",
                "history": "int",
                "evaluated_at": "time",
                "seq": "int",
            },
        ),
        _declare(  # a key added to (or removed from) the DynamicPartitions `name`
            "partition_key",
            "partition_key_changes",
            ("change_id",),
            Conflict.IGNORE,
            {
                "change_id": "str",
                "name": "str",
                "partition_key": "str",
                "is_added": "bool",
                "at": "time",
                "seq": "int",  # the state's clock: keys are in the order they were added
            },
            "name",
            "partition_key",
            "is_added",
            "seq",
        ),
        _declare(
            "materialization",
            "materializations",
            ("materialization_id",),
            Conflict.IGNORE,
            {
                "materialization_id": "str",
                "run_id": "str",
                "asset_key": "str",
                "partition_key": "str",
                "started_at": "time",
                "finished_at": "time",
                "row_count": "int",
                "byte_size": "int",
                "location": "str",
                "io": "str",
                "data_version": "str",
                "code_version": "str",
                "user_name": "str",
                "host": "str",
                "git_commit": "str",
                "inputs_signature": "str",
                "provenance": "str",
                "seq": "int",
                "started_seq": "int",
                "code_parts": "str",  # JSON: what the code version was made of
                "config": "str",  # JSON: the configuration it was materialized with
            },
            "run_id",
            "asset_key",
        ),
        _declare(
            "observation",
            "observations",
            ("observation_id",),
            Conflict.IGNORE,
            {
                "observation_id": "str",
                "run_id": "str",
                "asset_key": "str",
                "partition_key": "str",
                "data_version": "str",
                "observed_at": "time",
                "seq": "int",
            },
            "run_id",
            "asset_key",
            "data_version",
            "observed_at",
        ),
        _declare(
            "check",
            "check_results",
            ("check_result_id",),
            Conflict.IGNORE,
            {
                "check_result_id": "str",
                "run_id": "str",
                "asset_key": "str",
                "partition_key": "str",
                "check_name": "str",
                "status": "str",
                "passed": "bool",
                "severity": "str",
                "blocking": "bool",
                "description": "str",
                "metadata": "str",
                "error": "str",
                "failures_path": "str",
                "materialization_id": "str",
                "data_version": "str",
                "checked_at": "time",
                "seq": "int",
                "check_version": "str",  # the version of the check (or schema) that judged
            },
            "run_id",
            "asset_key",
            "check_name",
            "status",
            "passed",
            "severity",
            "blocking",
            "checked_at",
        ),
        _declare(
            "lineage",
            "lineage_events",
            ("event_id",),
            Conflict.APPEND,
            {
                "event_id": "str",
                "run_id": "str",
                "event_type": "str",
                "event_time": "time",
                "kind": "str",
                "ol_run_id": "str",
                "job_namespace": "str",
                "job_name": "str",
                "asset_key": "str",
                "partition_key": "str",
                "parent_run_id": "str",
                "inputs": "datasets",
                "outputs": "datasets",
                "event": "str",
            },
            "run_id",
            "event_type",
            "event_time",
            "kind",
            "event",
        ),
        _declare(  # an alert event for a target: `pending` before the first attempt (with
            # the event), then each attempt `sent` or `failed`; never a URL nor a secret
            "alert",
            "alert_deliveries",
            (),
            Conflict.APPEND,
            {
                "event_key": "str",
                "target": "str",
                "target_kind": "str",
                "event_kind": "str",
                "status": "str",
                "attempt": "int",
                "recorded_at": "time",
                "run_id": "str",
                "subject": "str",
                "error": "str",
                "event": "str",
            },
            "event_key",
            "target",
            "event_kind",
            "status",
            "recorded_at",
        ),
        _declare(
            "log",
            "step_logs",
            ("run_id", "step_key", "seq"),
            Conflict.IGNORE,
            {
                "run_id": "str",
                "step_key": "str",
                "seq": "int",
                "logged_at": "time",
                "level": "str",
                "logger": "str",
                "message": "str",
            },
        ),
    )
}

# Control records: they close a dead run's journal and change the rows of its run
# (`run_died`), or close a journal that is not a run's (`journal_closed`: the alert
# deliveries of `assay alerts send`, say).
CONTROL_TYPES: dict[str, Fields] = {
    "run_died": {"run_id": "str", "at": "time"},
    "journal_closed": {"journal": "str", "at": "time"},
}

DATASET_FIELDS = ("namespace", "name", "asset_key", "version", "partitions")
_INT64 = 2**63
_TIME_LIMIT_S = 1e11  # year 5138: beyond it DuckDB's timestamps overflow


def make_record(record_type: str, /, **fields: Any) -> Record:
    """A journal record of a declared type (a field it does not declare is a bug).

    >>> make_record("log", run_id="r", step_key="a", seq=0, message="hi")["type"]
    'log'
    """
    declared = RECORD_TYPES.get(record_type)
    names = declared.fields if declared is not None else CONTROL_TYPES[record_type]
    unknown = set(fields) - set(names)
    if unknown:
        raise TypeError(f"{record_type} records have no field {', '.join(sorted(unknown))}")
    return {"type": record_type, **fields}


def problem(record: object) -> str | None:
    """Why `record` (a parsed journal line) cannot be indexed, or None when it can."""
    if not isinstance(record, dict):
        return f"a JSON {_json_kind(record)}, not an object"
    kind = record.get("type")
    declared = RECORD_TYPES.get(kind) if isinstance(kind, str) else None
    if declared is not None:
        fields, required = declared.fields, declared.required
    elif isinstance(kind, str) and kind in CONTROL_TYPES:
        fields = CONTROL_TYPES[kind]
        required = frozenset(fields) - {"at"}
    elif kind is None:
        return "no 'type' field"
    else:
        return f"unknown record type {kind!r}"
    for name in sorted(required):
        if record.get(name) is None:
            return f"{kind} record without {name!r}"
    for name, field_kind in fields.items():
        value = record.get(name)
        if value is not None and not _CHECKS[field_kind](value):
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            return f"{kind} record: {name!r} is {shown}, not {KIND_NAMES[field_kind]}"
    return None


def _is_str(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode()  # a lone surrogate ("\ud800") is valid JSON but not UTF-8
    except UnicodeEncodeError:
        return False
    return True


def _is_int(value: object) -> bool:
    return type(value) is int and -_INT64 <= value < _INT64


def _is_time(value: object) -> bool:
    if type(value) is int:
        return abs(value) < _TIME_LIMIT_S
    return type(value) is float and math.isfinite(value) and abs(value) < _TIME_LIMIT_S


def _is_bool(value: object) -> bool:
    return type(value) is bool


def _is_datasets(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict)
        and all(item.get(name) is None or _is_str(item[name]) for name in DATASET_FIELDS)
        for item in value
    )


_CHECKS = {"str": _is_str, "int": _is_int, "time": _is_time, "bool": _is_bool}
_CHECKS["datasets"] = _is_datasets
KIND_NAMES = {
    "str": "a string",
    "int": "a 64-bit integer",
    "time": "a time in epoch seconds",
    "bool": "true or false",
    "datasets": "a list of datasets",
}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else type(value).__name__
