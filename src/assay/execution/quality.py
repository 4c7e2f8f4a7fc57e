"""Judging an output: its Pandera schema, then its `@asset_check`s.

Both run on the value before it is stored (write, audit, publish): an output
that fails its schema, or a blocking error-severity check, never becomes the
asset's current value. `assay check` runs the same functions on what is stored.
Pandera is imported here, and only when an asset has a schema.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from assay.checks import CheckResult
from assay.execution.context import AssetContext
from assay.execution.user_code import describe_exception
from assay.io.atomic import atomic_path
from assay.io.base import InputKind, is_frame
from assay.results import SCHEMA_CHECK, CheckOutcome
from assay.versioning import check_version, schema_version

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl

    from assay.checks import CheckSpec
    from assay.keys import AssetKey
    from assay.partitions.time_window import TimeWindow
    from assay.spec import AssetSpec

SHOWN_CHECKS = 3
SHOWN_CASES = 3


class ValidationFailed(Exception):
    """An output failed its schema or a blocking check; it was not stored."""

    def __init__(self, message: str, outcomes: list[CheckOutcome]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


def as_frame(value: Any) -> pl.DataFrame:
    """A polars DataFrame of an output (a LazyFrame is collected, Arrow converted)."""
    import polars as pl

    if isinstance(value, pl.LazyFrame):
        return value.collect()
    if isinstance(value, pl.DataFrame):
        return value
    converted = pl.from_arrow(value)
    assert isinstance(converted, pl.DataFrame)
    return converted


def judge(
    spec: AssetSpec,
    checks: tuple[CheckSpec, ...],
    value: Any,
    *,
    partition: str | None,
    run_id: str,
    failures_dir: Path | None,
    time_window: TimeWindow | None = None,
    resources: Callable[[str], Any] | None = None,
) -> tuple[pl.DataFrame, list[CheckOutcome]]:
    """Validate an output with the asset's schema, then run its checks, before storing
    (`resources`: what a check that takes resources receives, by name).

    Returns the validated frame (Pandera may coerce types) and every outcome; a value
    that is not a frame (JSON, a pickle, a file, None) is judged by its checks alone
    (a schema on it is refused when the graph is built) and returned as it is.

    Raises:
        ValidationFailed: the schema failed, or a blocking error-severity check
            failed or raised: the value must not be stored.
    """
    if not is_frame(value):
        outcomes = [
            run_check(c, spec.key, value, partition, run_id, time_window, resources) for c in checks
        ]
        _raise_if_blocked(outcomes)
        return value, outcomes
    frame, outcomes = evaluate(
        spec,
        checks,
        as_frame(value),
        partition=partition,
        run_id=run_id,
        failures_dir=failures_dir,
        time_window=time_window,
        stop_on_schema=True,
        resources=resources,
    )
    if outcomes and outcomes[0].name == SCHEMA_CHECK and not outcomes[0].passed:
        raise ValidationFailed(outcomes[0].error or "schema failed", outcomes)
    _raise_if_blocked(outcomes)
    return frame, outcomes


def _raise_if_blocked(outcomes: list[CheckOutcome]) -> None:
    blocked = [o for o in outcomes if o.blocks]
    if blocked:
        what = "; ".join(o.describe() for o in blocked)
        raise ValidationFailed(f"blocking {what}; the output was not stored", outcomes)


def evaluate(
    spec: AssetSpec,
    checks: tuple[CheckSpec, ...],
    frame: Any,
    *,
    partition: str | None,
    run_id: str,
    failures_dir: Path | None,
    time_window: TimeWindow | None = None,
    stop_on_schema: bool = False,
    resources: Callable[[str], Any] | None = None,
) -> tuple[pl.DataFrame, list[CheckOutcome]]:
    """Every verdict on `frame`: its schema's, then each check's (never raises). A
    value that is not a frame gets its checks' verdicts only."""
    outcomes: list[CheckOutcome] = []
    if spec.schema is not None and is_frame(frame):
        frame, outcome = validate_schema(spec, frame, partition, failures_dir)
        outcomes.append(outcome)
        if not outcome.passed and stop_on_schema:
            return frame, outcomes
    for check in checks:
        outcomes.append(
            run_check(check, spec.key, frame, partition, run_id, time_window, resources)
        )
    return frame, outcomes


def validate_schema(
    spec: AssetSpec, frame: pl.DataFrame, partition: str | None, failures_dir: Path | None
) -> tuple[pl.DataFrame, CheckOutcome]:
    """Lazy (collect-all) Pandera validation of the whole frame, data included."""
    from pandera.errors import SchemaError, SchemaErrors

    schema = spec.schema
    try:
        validated = schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    except SchemaError as exc:  # a schema-level error raised before lazy collection
        import polars as pl

        cases = pl.DataFrame(
            {"failure_case": [str(exc)], "column": [None], "check": [str(exc.check)]},
            schema={"failure_case": pl.String, "column": pl.String, "check": pl.String},
        )
    else:
        return as_frame(validated), CheckOutcome(
            name=SCHEMA_CHECK,
            status="passed",
            severity="error",
            blocking=True,
            description=_schema_name(schema),
            metadata={"rows": frame.height, "assertions": _assertions(schema, set())},
            version=schema_version(schema),
        )
    path = _save_cases(cases, spec.key, partition, failures_dir)
    summary, metadata = summarize_failures(cases)
    failed = {(f["column"], f["check"]) for f in metadata["failures"]}
    metadata["assertions"] = _assertions(schema, failed)
    where = f"; all {cases.height} failure cases in {path}" if path else ""
    return frame, CheckOutcome(
        name=SCHEMA_CHECK,
        status="failed",
        severity="error",
        blocking=True,
        description=_schema_name(schema),
        metadata=metadata,
        error=f"schema {_schema_name(schema)} failed: {summary}{where}",
        failures_path=path,
        version=schema_version(schema),
    )


def summarize_failures(cases: pl.DataFrame) -> tuple[str, dict[str, Any]]:
    """`amount greater_than_or_equal_to(0): 2 rows (e.g. -2.0, -1.0); ...` and, per
    failed check, its column, check, row count and a few failure cases."""
    import polars as pl

    groups = (
        cases.with_columns(pl.col("failure_case").cast(pl.String))
        .group_by("column", "check", maintain_order=True)
        .agg(pl.len().alias("rows"), pl.col("failure_case").head(SHOWN_CASES).alias("examples"))
    )
    failed = groups.to_dicts()
    parts = []
    for group in failed[:SHOWN_CHECKS]:
        where = f"{group['column']} " if group["column"] else ""
        rows = group["rows"]
        examples = ", ".join("null" if e is None else e for e in group["examples"])
        parts.append(f"{where}{group['check']}: {rows} row{'s' * (rows != 1)} (e.g. {examples})")
    if len(failed) > SHOWN_CHECKS:
        parts.append(f"and {len(failed) - SHOWN_CHECKS} more checks")
    metadata = {
        "failed_checks": len(failed),
        "failure_cases": cases.height,
        "failures": [
            {"column": g["column"], "check": g["check"], "rows": g["rows"]} for g in failed
        ],
    }
    return "; ".join(parts), metadata


def run_check(
    check: CheckSpec,
    asset: AssetKey,
    frame: Any,
    partition: str | None,
    run_id: str,
    time_window: TimeWindow | None = None,
    resources: Callable[[str], Any] | None = None,
) -> CheckOutcome:
    """Call one check; an exception is recorded as an errored check, never raised.

    `frame` is the asset's value: a polars DataFrame for frames (handed over as the
    check's annotation asks), else the value as it is (a Path of a file read as bytes
    for a check annotated `bytes`)."""

    value: Any = frame
    if check.kind is InputKind.LAZY:
        value = frame.lazy()
    elif check.kind is InputKind.ARROW:
        value = frame.to_arrow()
    elif check.kind is InputKind.BYTES and isinstance(value, PurePath):
        value = Path(value).read_bytes()
    kwargs: dict[str, Any] = {check.param: value}
    if check.wants_context:
        kwargs["context"] = AssetContext(
            run_id=run_id,
            asset_key=asset,
            partition_key=partition,
            partition_keys=(partition,) if partition else (),
            partition_time_window=time_window,
            log=logging.getLogger(f"assay.asset.{asset}.{check.name}"),
        )

    def verdict(
        status: str,
        description: str | None = check.description,
        metadata: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> CheckOutcome:
        return CheckOutcome(
            name=check.name,
            status=status,
            severity=check.severity,
            blocking=check.blocking,
            description=description,
            metadata=metadata or {},
            error=error,
            version=check_version(check),
        )

    try:
        for name in sorted(check.resource_params):
            if resources is None:
                raise RuntimeError(f"no resources were given to build {name!r} with")
            kwargs[name] = resources(name)
        if check.kind is InputKind.PATH and isinstance(value, bytes | bytearray):
            # a file not stored yet (checks judge before the write): a temporary one
            with tempfile.TemporaryDirectory(prefix="assay-check-") as folder:
                kwargs[check.param] = Path(folder) / "data"
                kwargs[check.param].write_bytes(value)
                returned = check.fn(**kwargs)
        else:
            returned = check.fn(**kwargs)
    except Exception as exc:
        return verdict("errored", error=describe_exception(exc, check))
    if isinstance(returned, CheckResult):
        return verdict(
            "passed" if returned.passed else "failed",
            returned.description or check.description,
            _jsonable(dict(returned.metadata)),
        )
    if isinstance(returned, bool):
        return verdict("passed" if returned else "failed")
    return verdict(
        "errored", error=f"returned {type(returned).__name__}; return a bool or a CheckResult"
    )


def _assertions(schema: Any, failed: set[tuple[str | None, str]]) -> list[dict[str, Any]]:
    """Each check the schema declares, per column, and whether it held: what lineage
    emits as OpenLineage data-quality assertions."""
    declared = schema.to_schema() if isinstance(schema, type) else schema  # type: ignore[attr-defined]
    found: list[dict[str, Any]] = []
    for name, column in getattr(declared, "columns", {}).items():
        checks = [f"dtype('{column.dtype}')"] if column.dtype is not None else []
        checks += [] if column.nullable else ["not_nullable"]
        checks += ["field_uniqueness"] if column.unique else []
        checks += [check.error or check.name for check in column.checks]
        found += [
            {"column": name, "assertion": check, "success": (name, check) not in failed}
            for check in checks
        ]
    reported = {(a["column"], a["assertion"]) for a in found}
    found += [  # failures the declaration does not name (a missing column, say)
        {"column": column, "assertion": check, "success": False}
        for column, check in sorted(failed - reported, key=str)
    ]
    return found


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata as JSON would keep it (numpy and other values become strings)."""
    return dict(json.loads(json.dumps(metadata, default=str)))


def _schema_name(schema: Any) -> str:
    if isinstance(schema, type):
        return schema.__name__
    return getattr(schema, "name", None) or type(schema).__name__


def _save_cases(
    cases: pl.DataFrame, key: AssetKey, partition: str | None, failures_dir: Path | None
) -> str | None:
    """Keep every failure case as Parquet beside the run; None when there is no place."""
    if failures_dir is None:
        return None

    path = failures_dir.joinpath(*key.path) / f"{partition or 'data'}.parquet"
    with atomic_path(path) as tmp:
        cases.write_parquet(tmp)
    return str(path)
