"""One step: load inputs, call the asset function, store its output.

`execute_step` touches no state store: it returns `StepResult`s (output
statistics, the error as fields, logs) for the coordinator to journal, so the
same function runs in any worker process.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from assay.errors import MaterializationError
from assay.execution.context import AssetContext
from assay.execution.quality import ValidationFailed, judge
from assay.execution.user_code import step_error
from assay.io.base import Stores, check_output, stores_of, write_output
from assay.partitions.time_window import TimeWindowPartitions
from assay.results import CheckOutcome, StepError, StepResult, StepStatus
from assay.spec import CONFIG_PARAM, Output

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    from assay.checks import CheckSpec
    from assay.io.base import InputKind, IOManager
    from assay.keys import AssetKey
    from assay.partitions.time_window import TimeWindow
    from assay.spec import AssetSpec

_ASSET_LOGGER = "assay.asset"
logging.getLogger(_ASSET_LOGGER).setLevel(logging.DEBUG)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInput:
    """Where one input parameter is loaded from."""

    key: AssetKey
    io: IOManager
    kind: InputKind
    partitions: tuple[str, ...] | None = None
    # one partition read through an identity or last-partition mapping: an IO manager
    # of values (JSONIO, PickleIO, FileIO) hands over the value, not {partition: value}
    is_single: bool = False

    def load(self) -> Any:
        """The input's value, as the function receives it."""
        loaded = self.io.load(self.key, self.partitions, self.kind)
        if (
            self.is_single
            and self.partitions is not None
            and len(self.partitions) == 1
            and isinstance(loaded, dict)
            and stores_of(self.io) not in (None, Stores.FRAMES)
        ):
            return loaded[self.partitions[0]]
        return loaded


@dataclass(frozen=True, slots=True, kw_only=True)
class StepOutput:
    """One more asset a step computes (another output of a `@multi_asset`)."""

    spec: AssetSpec
    io: IOManager
    checks: tuple[CheckSpec, ...] = ()
    is_full_rewrite: bool = False


def execute_step(
    spec: AssetSpec,
    *,
    run_id: str,
    partitions: tuple[str, ...] | None,
    inputs: Mapping[str, StepInput],
    io: IOManager,
    time_window: TimeWindow | None = None,
    checks: tuple[CheckSpec, ...] = (),
    failures_dir: Path | None = None,
    is_full_rewrite: bool = False,
    extra: Mapping[str, Any] | None = None,
    siblings: Sequence[StepOutput] = (),
    resources: Callable[[str], Any] | None = None,
) -> tuple[StepResult, ...]:
    """Materialize one asset partition (or a batch of them); never raises for user or
    I/O errors. Returns one result per partition (one for an unpartitioned asset).

    Several `partitions` make a batch: one call of an asset with a `BatchPolicy`,
    whose output is split on its partition column and stored per partition. Each
    partition's value is validated by the asset's schema and judged by its checks
    before it is stored; one that fails is not stored (its result says why).

    `is_full_rewrite`: the run writes every partition of the asset, which lets its IO
    manager change a schema the partitions share (`assay.io.base.write_output`).
    `extra`: the other arguments of the function (its resources, its `config`).
    `siblings`: the other outputs of a `@multi_asset` this call computes (results
    for each of them follow the asset's own). `resources`: builds a resource by name,
    for checks that take some.
    """
    outputs = [StepOutput(spec=spec, io=io, checks=checks, is_full_rewrite=is_full_rewrite)]
    outputs += siblings
    started = time.time()
    keys: tuple[str | None, ...] = partitions if partitions else (None,)
    results: list[StepResult] = []
    computed: list[tuple[StepOutput, dict[str | None, Any], str | None]] = []
    with _captured_logs() as logs:
        try:
            kwargs = {name: source.load() for name, source in inputs.items()}
            if extra:
                kwargs.update(extra)
            if spec.wants_context:
                kwargs["context"] = AssetContext(
                    run_id=run_id,
                    asset_key=spec.key,
                    partition_key=partitions[0] if partitions and len(partitions) == 1 else None,
                    partition_keys=partitions or (),
                    partition_time_window=time_window,
                    log=logging.getLogger(f"{_ASSET_LOGGER}.{spec.key}"),
                    resources={k: v for k, v in (extra or {}).items() if k != CONFIG_PARAM},
                    config=(extra or {}).get(CONFIG_PARAM),
                    selected_outputs=_selected(outputs),
                )
            returned = spec.fn(**kwargs)
            for output, value in _by_output(spec, outputs, returned):
                explicit_version = None
                if isinstance(value, Output):
                    value, explicit_version = value.value, value.data_version
                if output.spec.backfill_policy is not None and partitions:
                    values = split_batch(output.spec, partitions, value)
                else:
                    values = {keys[0]: value}
                computed.append((output, values, explicit_version))
        except Exception as exc:
            error = step_error(exc, spec)
            for output in outputs:
                failure = _failed(output.spec, started, error)
                results += [replace(failure, partition=p) for p in keys]
            computed = []
        for output, values, explicit_version in computed:
            results += _store(
                output,
                values,
                explicit_version,
                run_id,
                started,
                failures_dir,
                time_window,
                resources,
            )
    if results and logs:
        results[0] = replace(results[0], logs=tuple(logs))
    return tuple(results)


def _store(
    output: StepOutput,
    values: dict[str | None, Any],
    explicit_version: str | None,
    run_id: str,
    started: float,
    failures_dir: Path | None,
    time_window: TimeWindow | None,
    resources: Callable[[str], Any] | None = None,
) -> list[StepResult]:
    """Validate, judge and write each partition of one output; its results."""
    spec, io, checks = output.spec, output.io, output.checks
    full_rewrite_run_id = run_id if output.is_full_rewrite else None
    results = []
    for partition, part in values.items():
        outcome: tuple[CheckOutcome, ...] = ()
        try:
            if spec.schema is not None or checks:
                part, judged = judge(
                    spec,
                    checks,
                    part,
                    partition=partition,
                    run_id=run_id,
                    failures_dir=failures_dir,
                    time_window=time_window,
                    resources=resources,
                )
                outcome = tuple(judged)
            written = write_output(
                io, spec.key, partition, part, full_rewrite_run_id=full_rewrite_run_id
            )
        except ValidationFailed as exc:
            failed = _failed(spec, started, StepError(message=str(exc)))
            results.append(
                replace(failed, partition=partition, checks=tuple(exc.outcomes), retryable=False)
            )
            continue
        except Exception as exc:
            failed = _failed(spec, started, step_error(exc, spec))
            results.append(replace(failed, partition=partition, checks=outcome))
            continue
        if explicit_version is not None:
            suffix = "" if len(values) == 1 else f"/{partition}"
            written = replace(written, data_version=explicit_version + suffix)
        results.append(
            StepResult(
                key=spec.key,
                partition=partition,
                status=StepStatus.SUCCEEDED,
                started_at=started,
                finished_at=time.time(),
                stored=written,
                checks=outcome,
            )
        )
    return results


def _selected(outputs: Sequence[StepOutput]) -> tuple[str, ...]:
    """The names of the multi-asset outputs a step computes, in the order of `outs`."""
    multi = outputs[0].spec.multi
    if multi is None:
        return ()
    computed = {o.spec.key for o in outputs}
    return tuple(name for key, name in multi.outputs.items() if key in computed)


def _by_output(
    spec: AssetSpec, outputs: Sequence[StepOutput], returned: Any
) -> list[tuple[StepOutput, Any]]:
    """What the function returned, per output: itself for an asset; for a multi-asset,
    a dict by output name, or a tuple in the order of `outs`.

    Raises:
        MaterializationError: a multi-asset returned something else, or left out an
            output the step computes.
    """
    multi = spec.multi
    if multi is None:
        return [(outputs[0], returned)]
    names = list(multi.outputs.values())
    where = f"@multi_asset {multi.name!r}"
    if isinstance(returned, tuple) and not multi.can_subset:
        if len(returned) != len(names):
            raise MaterializationError(
                f"{where} returned {len(returned)} values for its {len(names)} outputs "
                f"({', '.join(names)}): return one per output, in that order, or a dict"
            )
        by_name = dict(zip(names, returned, strict=True))
    elif isinstance(returned, dict):
        by_name = returned
    else:
        raise MaterializationError(
            f"{where} returned {type(returned).__qualname__}; return a dict from output "
            f"name ({', '.join(names)}) to value"
            + ("" if multi.can_subset else ", or a tuple in that order")
        )
    found = []
    for output in outputs:
        name = multi.outputs[output.spec.key]
        if name not in by_name:
            raise MaterializationError(
                f"{where} returned no {name!r} (it returned {', '.join(map(str, by_name))}): "
                "return every output in context.selected_outputs"
            )
        found.append((output, by_name[name]))
    return found


def _failed(spec: AssetSpec, started: float, error: StepError) -> StepResult:
    return StepResult(
        key=spec.key,
        partition=None,
        status=StepStatus.FAILED,
        started_at=started,
        finished_at=time.time(),
        failure=error,
    )


def split_batch(spec: AssetSpec, partitions: tuple[str, ...], value: Any) -> dict[str | None, Any]:
    """One frame per partition of a batch, by the policy's partition column.

    The column holds partition keys (strings), or dates or datetimes that fall in
    the partitions' time windows. A partition without rows gets an empty frame.

    Raises:
        MaterializationError: the column is missing, has another type, or holds
            rows of partitions outside the batch.
    """
    import polars as pl

    policy, definition = spec.backfill_policy, spec.partitions
    assert policy is not None
    assert definition is not None
    check_output(spec.key, value)
    if isinstance(value, pl.LazyFrame):
        value = value.collect()
    elif not isinstance(value, pl.DataFrame):
        value = pl.from_arrow(value)
    column = policy.partition_column
    where = f"asset {str(spec.key)!r} (BatchPolicy partition_column={column!r})"
    if column not in value.columns:
        raise MaterializationError(
            f"{where} returned no column {column!r} (columns: {', '.join(value.columns)}); "
            "return each row's partition in that column"
        )

    is_time = isinstance(definition, TimeWindowPartitions)
    dtype = value.schema[column]
    found = value.get_column(column).unique().drop_nulls().to_list()
    if dtype == pl.String:
        key_of = {item: item for item in found}
    elif dtype in (pl.Date, pl.Datetime) and isinstance(definition, TimeWindowPartitions):
        key_of = {
            item: definition.key(definition.index_at(_aware(item, definition))) for item in found
        }
    else:
        raise MaterializationError(
            f"{where}: the column has type {dtype}; it must hold partition keys (strings)"
            + (", dates or datetimes" if is_time else "")
        )
    outside = sorted({key for key in key_of.values() if key not in partitions})
    if outside or value.get_column(column).null_count():
        what = ", ".join(outside[:3]) if outside else "null"
        raise MaterializationError(
            f"{where} returned rows of partition {what}, outside the batch "
            f"{partitions[0]}..{partitions[-1]}; filter the rows to the batch's window"
        )
    tagged = value.with_columns(
        pl.col(column).replace_strict(key_of, return_dtype=pl.String).alias("__assay_key")
    )
    parts = {
        str(key[0]): frame
        for key, frame in tagged.partition_by(
            "__assay_key", as_dict=True, include_key=False
        ).items()
    }
    empty = value.clear()
    return {partition: parts.get(partition, empty) for partition in partitions}


def _aware(value: date | datetime, definition: TimeWindowPartitions) -> datetime:
    """A date (the start of that day) or datetime, in the definition's timezone if naive."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo is not None else value.replace(tzinfo=definition.tz)


_MESSAGE = logging.Formatter("%(message)s")  # (and the traceback of an exception logged)


class _StepLogHandler(logging.Handler):
    """Keeps the records logged on one thread while a step runs."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(logging.DEBUG)
        self.thread_id = thread_id
        self.records: list[dict[str, Any]] = []
        self.setFormatter(_MESSAGE)

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread_id:
            return
        self.records.append(
            {
                "seq": len(self.records),
                "logged_at": record.created,
                "level": record.levelname,
                "logger": record.name,
                "message": self.format(record),
            }
        )


@contextmanager
def _captured_logs() -> Iterator[list[dict[str, Any]]]:
    """Capture `context.log` and standard `logging` at INFO and above during a step.

    The root logger's level is lowered to INFO for the step when it is higher, and
    set back only if it changed: setting a level clears the cache of every logger in
    the process. (The logger of an asset's `context.log` is made only for assets
    that take a context: one per asset would make that cost grow with the assets.)"""
    root = logging.getLogger()
    handler = _StepLogHandler(threading.get_ident())
    previous_level = root.level
    if previous_level > logging.INFO:
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        if root.level != previous_level:
            root.setLevel(previous_level)
