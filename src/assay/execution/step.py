"""One step: load inputs, call the asset function, store its output.

`execute_step` touches no state store: it returns a `StepResult` (output
statistics, error, logs) for the coordinator to journal, so the same function
can run in a worker process.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.assets import Output
from assay.errors import AssayError
from assay.execution.context import AssetContext

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from assay.assets import AssetSpec, InputKind
    from assay.io.base import IOManager, StoredOutput
    from assay.keys import AssetKey
    from assay.partitions.time_window import TimeWindow

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_ASSET_LOGGER = "assay.asset"
logging.getLogger(_ASSET_LOGGER).setLevel(logging.DEBUG)


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInput:
    """Where one input parameter is loaded from."""

    key: AssetKey
    io: IOManager
    kind: InputKind
    partitions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """The outcome of one step, for the coordinator to journal."""

    key: AssetKey
    partition: str | None
    status: StepStatus
    started_at: float
    finished_at: float
    stored: StoredOutput | None = None
    error: str | None = None
    traceback: str | None = None
    skip_reason: str | None = None
    logs: tuple[dict[str, Any], ...] = field(default=())

    @property
    def step_key(self) -> str:
        return step_key(self.key, self.partition)

    @property
    def duration_s(self) -> float:
        return self.finished_at - self.started_at


def step_key(key: AssetKey, partition: str | None) -> str:
    return str(key) if partition is None else f"{key}[{partition}]"


def execute_step(
    spec: AssetSpec,
    *,
    run_id: str,
    partition: str | None,
    inputs: Mapping[str, StepInput],
    io: IOManager,
    time_window: TimeWindow | None = None,
) -> StepResult:
    """Materialize one asset (partition); never raises for user or I/O errors."""
    started = time.time()
    logger = logging.getLogger(f"{_ASSET_LOGGER}.{spec.key}")
    with _captured_logs() as logs:
        try:
            kwargs = {
                name: source.io.load(source.key, source.partitions, source.kind)
                for name, source in inputs.items()
            }
            if spec.wants_context:
                kwargs["context"] = AssetContext(
                    run_id=run_id,
                    asset_key=spec.key,
                    partition_key=partition,
                    partition_time_window=time_window,
                    log=logger,
                )
            value = spec.fn(**kwargs)
            explicit_version = None
            if isinstance(value, Output):
                value, explicit_version = value.value, value.data_version
            stored = io.write(spec.key, partition, value)
            if explicit_version is not None:
                stored = replace(stored, data_version=explicit_version)
        except Exception as exc:
            return StepResult(
                key=spec.key,
                partition=partition,
                status=StepStatus.FAILED,
                started_at=started,
                finished_at=time.time(),
                error=describe_exception(exc, spec),
                traceback=_user_traceback(exc),
                logs=tuple(logs),
            )
    return StepResult(
        key=spec.key,
        partition=partition,
        status=StepStatus.SUCCEEDED,
        started_at=started,
        finished_at=time.time(),
        stored=stored,
        logs=tuple(logs),
    )


def describe_exception(exc: BaseException, spec: AssetSpec) -> str:
    """`ValueError: bad value (pipeline.py:12)`, or an assay error's own message.

    The location is the deepest frame in the asset's own file, else the deepest
    frame outside assay.
    """
    if isinstance(exc, AssayError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    own_file = getattr(getattr(spec.fn, "__code__", None), "co_filename", None)
    mine = [f for f in frames if f.filename == own_file] or [
        f for f in frames if not f.filename.startswith(_PACKAGE_DIR)
    ]
    where = f" ({Path(mine[-1].filename).name}:{mine[-1].lineno})" if mine else ""
    text = str(exc).strip()
    message = f": {text.splitlines()[0]}" if text else ""
    return f"{type(exc).__name__}{message}{where}"


def _user_traceback(exc: BaseException) -> str:
    """The traceback without assay's own frames at its top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        if tb.tb_next is None:
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


class _StepLogHandler(logging.Handler):
    """Keeps the records logged on one thread while a step runs."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(logging.DEBUG)
        self.thread_id = thread_id
        self.records: list[dict[str, Any]] = []
        self.setFormatter(logging.Formatter("%(message)s"))

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
    """Capture `context.log` and standard `logging` at INFO and above during a step."""
    root = logging.getLogger()
    handler = _StepLogHandler(threading.get_ident())
    previous_level = root.level
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
