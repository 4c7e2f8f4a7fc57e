"""The journal records a run writes about its steps, checks and observations.

Each builder makes one declared record type (`state.records`), so the fields
written are the fields the store indexes.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING

from assay.results import StepStatus, step_key
from assay.state.records import make_record

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from assay.execution.hooks import Observed
    from assay.keys import AssetKey
    from assay.results import CheckOutcome, StepResult
    from assay.state.records import Record


def step_record(
    run_id: str, key: AssetKey, partition: str | None, status: StepStatus, started_at: float
) -> Record:
    return make_record(
        "step",
        run_id=run_id,
        step_key=step_key(key, partition),
        asset_key=str(key),
        partition_key=partition,
        status=status.value,
        started_at=started_at,
    )


def result_records(
    run_id: str,
    result: StepResult,
    *,
    attempts: int,
    materialization: Mapping[str, Any] | None,
    seq: int | None,
    log_seq: dict[str, int],
) -> list[Record]:
    """A step's final record, its materialization (when stored), its checks, its logs.

    `materialization` holds the fields the coordinator knows (io, code version,
    inputs signature, provenance, started_seq, user, host, commit).
    """
    error = result.failure
    step = step_record(run_id, result.key, result.partition, result.status, result.started_at)
    step |= {
        "finished_at": result.finished_at,
        "error": None if error is None else error.message,
        "error_type": None if error is None else error.exception,
        "error_location": None if error is None else error.location,
        "traceback": None if error is None else error.traceback,
        "skip_reason": result.skip_reason,
        "attempts": attempts,
    }
    records = [step]
    materialization_id = None
    if result.stored is not None and materialization is not None:
        materialization_id = str(uuid.uuid4())
        records.append(
            make_record(
                "materialization",
                materialization_id=materialization_id,
                run_id=run_id,
                asset_key=str(result.key),
                partition_key=result.partition,
                started_at=result.started_at,
                finished_at=result.finished_at,
                row_count=result.stored.row_count,
                byte_size=result.stored.byte_size,
                location=result.stored.location,
                data_version=result.stored.data_version,
                seq=seq,
                **materialization,
            )
        )
    records += check_records(
        run_id,
        result.key,
        result.partition,
        result.checks,
        materialization_id,
        None if result.stored is None else result.stored.data_version,
        seq,
    )
    records += log_records(run_id, result.step_key, result.logs, log_seq)
    return records


def check_records(
    run_id: str,
    key: AssetKey,
    partition: str | None,
    outcomes: Sequence[CheckOutcome],
    materialization_id: str | None,
    data_version: str | None,
    seq: int | None,
) -> list[Record]:
    """The journal records of check outcomes on one asset partition (`seq`: the state
    home's clock, which orders them)."""
    return [
        make_record(
            "check",
            check_result_id=str(uuid.uuid4()),
            run_id=run_id,
            asset_key=str(key),
            partition_key=partition,
            check_name=outcome.name,
            status=outcome.status,
            passed=outcome.passed,
            severity=outcome.severity,
            blocking=outcome.blocking,
            description=outcome.description,
            metadata=json.dumps(outcome.metadata, default=str, separators=(",", ":")),
            error=outcome.error,
            failures_path=outcome.failures_path,
            materialization_id=materialization_id,
            data_version=data_version,
            checked_at=outcome.checked_at,
            seq=seq,
            check_version=outcome.version,
        )
        for outcome in outcomes
    ]


def log_records(
    run_id: str, step: str, logs: Sequence[Mapping[str, Any]], log_seq: dict[str, int]
) -> list[Record]:
    """Log records numbered on from the step's earlier attempts."""
    first = log_seq.get(step, 0)
    log_seq[step] = first + len(logs)
    return [
        make_record("log", run_id=run_id, step_key=step, **{**log, "seq": first + i})
        for i, log in enumerate(logs)
    ]


def retry_log(attempt: int, message: str | None, wait_s: float) -> dict[str, Any]:
    """The line a failed attempt adds to its step's log before it is retried."""
    return {
        "logged_at": time.time(),
        "level": "WARNING",
        "logger": "assay",
        "message": f"attempt {attempt} failed: {message}; retrying in {wait_s:.1f} s",
    }


def observation_record(run_id: str, observed: Observed, seq: int) -> Record:
    return make_record(
        "observation",
        observation_id=str(uuid.uuid4()),
        run_id=run_id,
        asset_key=str(observed.key),
        partition_key=observed.partition,
        data_version=observed.data_version,
        observed_at=observed.at,
        seq=seq,
    )
