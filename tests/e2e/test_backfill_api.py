"""Backfills through the Python API: scheduling, retries, pools, batches, resume."""

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

import assay
from assay.errors import DefinitionError, StateError, UnknownBackfillError
from tests.openlineage_spec import assert_well_formed

pytestmark = pytest.mark.slow

JAN = ("2024-01-01", "2024-01-10")


@pytest.fixture
def chain(make_project, monkeypatch):
    for name in ("SLOW", "FAIL_DAYS", "FLAKY_DIR", "RETRIES", "API_POOL", "INTERVALS", "CALLS"):
        monkeypatch.delenv(name, raising=False)
    root = make_project("backfill_chain")
    return root


def load():
    return assay.load()


def materializations(root: Path, backfill_id: str) -> list[tuple[str, str, int]]:
    with duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT m.asset_key, m.partition_key, count(*) FROM materializations m "
            "JOIN runs r USING (run_id) WHERE r.backfill_id = ? GROUP BY ALL ORDER BY ALL",
            [backfill_id],
        ).fetchall()


def test_backfill_runs_the_range_and_records_every_partition(chain):
    result = load().backfill("raw+", partition_range=JAN)
    assert result.success
    assert result.backfill_id
    status = load().backfill_status(result.backfill_id[:8])
    assert status.status == "completed"
    assert {(a.asset_key, a.targeted, a.succeeded) for a in status.assets} == {
        (name, 10, 10) for name in ("raw", "cleaned", "report", "batched")
    }
    assert len(status.steps) == 40
    rows = materializations(chain, result.backfill_id)
    assert len(rows) == 40
    assert {count for *_, count in rows} == {1}
    listed = load().backfills()
    assert listed[0]["backfill_id"] == result.backfill_id
    assert listed[0]["succeeded"] == 40
    assert listed[0]["partition_count"] == 40


def test_a_downstream_partition_starts_once_its_own_upstream_is_done(chain):
    result = load().backfill("raw+", partition_range=JAN)
    order = [step.step_key for step in result.steps]
    # not layer by layer: day 1 flows through the chain before day 10 of raw runs
    assert order.index("report[2024-01-01]") < order.index("raw[2024-01-10]")
    for day in ("2024-01-01", "2024-01-07"):
        assert order.index(f"raw[{day}]") < order.index(f"cleaned[{day}]")
        assert order.index(f"cleaned[{day}]") < order.index(f"report[{day}]")


def test_without_force_a_backfill_covers_only_stale_partitions(chain):
    load().materialize("raw", partitions=["2024-01-02"])
    result = load().backfill("raw", partition_range=JAN)
    assert len(result.steps) == 9
    assert "raw[2024-01-02]" not in [s.step_key for s in result.steps]
    again = load().backfill("raw", partition_range=JAN)
    assert again.backfill_id is None
    assert not again.steps
    forced = load().backfill("raw", partition_range=JAN, force=True)
    assert len(forced.steps) == 10


def test_retries_then_success_records_attempts_and_the_failed_attempts_logs(
    chain, monkeypatch, tmp_path
):
    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    monkeypatch.setenv("FLAKY_TIMES", "2")
    monkeypatch.setenv("RETRIES", "2")
    result = load().backfill("raw", partition_range=("2024-01-01", "2024-01-02"))
    assert result.success
    details = load().state.run_details(result.run_id)
    assert {step.attempts for step in details.steps} == {3}
    messages = [log.message for log in details.logs if log.step_key == "raw[2024-01-01]"]
    assert "attempt 1 for 2024-01-01" in messages
    assert any(m.startswith("attempt 2 failed: ConnectionError: API timeout") for m in messages)


def test_after_the_last_retry_downstream_is_skipped_and_the_rest_goes_on(chain, monkeypatch):
    monkeypatch.setenv("FAIL_DAYS", "2024-01-03")
    monkeypatch.setenv("RETRIES", "1")
    result = load().backfill("raw+", partition_range=JAN)
    assert result.status == "failed"
    status = load().backfill_status(result.backfill_id)
    counts = {a.asset_key: (a.succeeded, a.failed, a.skipped) for a in status.assets}
    assert counts["raw"] == (9, 1, 0)
    assert counts["cleaned"] == (9, 0, 1)
    assert counts["report"] == (9, 0, 1)
    assert counts["batched"] == (0, 0, 10)  # one batch reads every day, the failed one too
    skipped = {s["asset_key"]: s["skip_reason"] for s in status.steps if s["status"] == "skipped"}
    assert skipped["cleaned"] == "upstream 'raw' partition 2024-01-03 failed"
    assert skipped["report"] == "upstream 'cleaned' partition 2024-01-03 skipped"
    assert status.is_resumable

    monkeypatch.delenv("FAIL_DAYS")
    resumed = load().resume_backfill(result.backfill_id)
    assert resumed.success
    assert resumed.backfill_id == result.backfill_id
    # only the failed and skipped ones ran again: never a healthy partition
    assert sorted(s.step_key for s in resumed.steps if s.key.name != "batched") == [
        "cleaned[2024-01-03]",
        "raw[2024-01-03]",
        "report[2024-01-03]",
    ]
    assert {count for *_, count in materializations(chain, result.backfill_id)} == {1}
    assert load().backfill_status(result.backfill_id).status == "completed"
    with pytest.raises(StateError, match="nothing left to run"):
        load().resume_backfill(result.backfill_id)


def test_a_batched_asset_is_called_once_per_batch_and_stored_per_partition(
    chain, tmp_path, monkeypatch
):
    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS", str(calls))
    project = load()
    result = project.backfill("+batched", partition_range=("2024-01-01", "2024-03-31"))
    assert result.success
    assert calls.read_text().split() == ["31", "31", "29"]  # Jan; Feb 1..Mar 2; Mar 3..31
    stored = project.state.current_versions(
        [("batched", "2024-02-15"), ("batched", "2024-02-16"), ("batched", "2024-03-31")]
    )
    assert len(set(stored.values())) == 3  # each partition has its own data version
    frame = pl.read_parquet(chain / ".assay/storage/batched/partition=2024-02-15/data.parquet")
    assert frame["day"].unique().to_list() == ["2024-02-15"]
    assert frame.height == 3


def test_a_batch_returning_rows_outside_its_window_fails_clearly(chain, monkeypatch):
    monkeypatch.setenv("BAD_BATCH", "1")
    result = load().materialize("+batched", partition_range=("2024-01-01", "2024-01-03"))
    assert [s.status for s in result.steps if s.key.name == "batched"] == ["failed"] * 3
    error = next(s.error for s in result.steps if s.key.name == "batched")
    assert (
        "returned rows of partition 2025-02-04, 2025-02-05, 2025-02-06, outside the batch "
        "2024-01-01..2024-01-03; filter the rows to the batch's window" in (error or "")
    )


def test_multiprocess_backfill_runs_steps_in_parallel(chain, monkeypatch, tmp_path):
    intervals = tmp_path / "intervals"
    monkeypatch.setenv("INTERVALS", str(intervals))
    monkeypatch.setenv("SLOW", "0.15")
    unlimited = load().backfill(
        "raw", partition_range=("2024-01-01", "2024-01-08"), executor="multiprocess", workers=2
    )
    assert unlimited.success
    assert _max_overlap(intervals) == 2
    assert len({line.split()[3] for line in intervals.read_text().splitlines()}) == 2


def test_a_pool_limit_holds_across_workers(chain, monkeypatch, tmp_path):
    intervals = tmp_path / "intervals"
    monkeypatch.setenv("INTERVALS", str(intervals))
    monkeypatch.setenv("SLOW", "0.15")
    monkeypatch.setenv("API_POOL", "1")
    limited = load().backfill(
        "raw",
        partition_range=("2024-02-01", "2024-02-06"),
        executor="multiprocess",
        workers=2,
    )
    assert limited.success
    assert _max_overlap(intervals) == 1


def _max_overlap(path: Path) -> int:
    events = []
    for line in path.read_text().splitlines():
        _, start, end, _ = line.split()
        events += [(float(start), 1), (float(end), -1)]
    depth = best = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):
        depth += change
        best = max(best, depth)
    return best


def test_a_worker_that_cannot_load_the_project_fails_each_step_with_the_reason(chain, monkeypatch):
    project = load()
    module = next(chain.glob("backfill_chain_*.py"))
    module.write_text(module.read_text() + "\nraise RuntimeError('broken on import')\n")
    result = project.materialize(
        "raw", partitions=["2024-01-01"], executor="multiprocess", workers=1
    )
    assert result.status == "failed"
    assert "the worker could not load the project" in (result.steps[0].error or "")
    assert "broken on import" in (result.steps[0].error or "")
    # the worker built no events: the coordinator closes the step's lineage run
    events = [json.loads(e) for e in assay.lineage.open(chain / ".assay").events()["event"]]
    assert_well_formed(events)
    (failed,) = [e for e in events if e["job"]["name"] == "raw" and e["eventType"] == "FAIL"]
    assert "broken on import" in failed["run"]["facets"]["errorMessage"]["message"]


@pytest.mark.parametrize("executor", ["multiprocess", "dask"])
def test_a_worker_with_other_code_refuses_the_step(chain, executor):
    project = load()
    project.plan("raw")  # the code as it is now is versioned
    module = next(chain.glob("backfill_chain_*.py"))
    source = module.read_text()
    module.write_text(source.replace('"amount": [1, 2, int(day[-2:])]', '"amount": [0, 0, 0]'))
    result = project.materialize("raw", partitions=["2024-01-01"], executor=executor, workers=1)
    assert result.status == "failed"
    error = result.steps[0].error or ""
    assert error.startswith("the worker has other code for asset 'raw' (code version ")
    assert error.endswith("give every worker the project's current code")
    assert not (chain / ".assay/storage/raw").exists(), "the other code wrote an output"


def test_cancel_of_a_backfill_without_a_live_process_marks_it_canceled(chain, monkeypatch):
    monkeypatch.setenv("FAIL_DAYS", "2024-01-02")
    result = load().backfill("raw", partition_range=JAN)
    assert load().cancel_backfill(result.backfill_id) == "canceled"
    assert load().backfill_status(result.backfill_id).status == "canceled"
    with pytest.raises(StateError, match="already canceled"):
        load().cancel_backfill(result.backfill_id)


def test_should_stop_lets_running_steps_finish_and_starts_nothing_new(chain):
    seen = []

    class Stopper:
        def __call__(self) -> bool:
            return len(seen) >= 2

    class Reporter(assay.Hooks):
        def step_finished(self, run, attempt, results):
            seen.extend(results)

    result = load().backfill("raw", partition_range=JAN, hooks=[Reporter()], should_stop=Stopper())
    assert result.status == "canceled"
    assert len(result.steps) == 2
    status = load().backfill_status(result.backfill_id)
    assert status.status == "canceled"
    assert status.assets[0].pending == 8
    resumed = load().resume_backfill(result.backfill_id)
    assert len(resumed.steps) == 8
    assert resumed.success


def test_unknown_backfill_and_bad_policies_are_clear_errors(chain):
    with pytest.raises(UnknownBackfillError, match="no backfill matches 'nope'"):
        load().backfill_status("nope")
    with pytest.raises(DefinitionError, match="max_retries"):
        assay.RetryPolicy(max_retries=-1)
    with pytest.raises(DefinitionError, match="backoff"):
        assay.RetryPolicy(max_retries=1, backoff=0.5)
    with pytest.raises(DefinitionError, match="max_partitions"):
        assay.BatchPolicy(max_partitions=0, partition_column="day")
    with pytest.raises(DefinitionError, match="backfill_policy needs partitions"):

        @assay.asset(backfill_policy=assay.BatchPolicy(max_partitions=2, partition_column="d"))
        def unpartitioned() -> None: ...

    with pytest.raises(DefinitionError, match="pool 'api' is 0"):
        assay.Definitions(pools={"api": 0})


def test_retry_policy_waits_grow_by_backoff_within_jitter():
    policy = assay.RetryPolicy(max_retries=3, delay=1.0, backoff=3.0, jitter=0.5)
    for retry, base in ((1, 1.0), (2, 3.0), (3, 9.0)):
        for _ in range(20):
            assert base * 0.5 <= policy.wait_before(retry) <= base * 1.5
