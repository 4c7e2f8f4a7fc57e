"""`StateReader.attempt_columns` on a real store: the latest attempt of each partition,
whether it failed after the current materialization, and whether a blocking check
failed on the current one (not on an older one)."""

import gzip
import math
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb

from assay.state.journal import Journal
from assay.state.reader import StateReader
from assay.state.records import make_record
from assay.state.store import StateStore

KEYS = ["p1", "p2", "p3", "p4", "p5", "p6"]


class History:
    """Runs journaled as the runner journals them, on increasing seqs and times."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.seq = 1_000
        self.at = time.time() - 1_000
        self.current: dict[str, str] = {}  # partition -> its latest materialization id

    def tick(self) -> tuple[int, float]:
        self.seq += 10
        self.at += 10
        return self.seq, self.at

    def run(self, *steps: tuple[str, str], died: bool = False) -> str:
        """Steps of asset `a`: (partition, "ok" | "failed" | "running" | "check-failed" |
        "check-passed")."""
        run_id = str(uuid.uuid4())
        _, at = self.tick()
        run = make_record("run", run_id=run_id, kind="materialize", status="running", started_at=at)
        with Journal(self.home / "journal", run_id) as journal:
            journal.append(run, durable=True)
            for partition, outcome in steps:
                seq, began = self.tick()
                step = make_record(
                    "step",
                    run_id=run_id,
                    step_key=f"a[{partition}]",
                    asset_key="a",
                    partition_key=partition,
                    status="running",
                    started_at=began,
                )
                journal.append(step)
                if outcome == "running":
                    continue
                records: list[dict[str, Any]] = []
                if outcome != "failed":
                    mid = str(uuid.uuid4())
                    self.current[partition] = mid
                    records.append(
                        make_record(
                            "materialization",
                            materialization_id=mid,
                            run_id=run_id,
                            asset_key="a",
                            partition_key=partition,
                            started_at=began,
                            finished_at=began + 1,
                            data_version=uuid.uuid4().hex,
                            code_version="c",
                            seq=seq + 1,
                            started_seq=seq,
                        )
                    )
                if outcome.startswith("check"):
                    records.append(self.check(run_id, partition, passed=outcome == "check-passed"))
                status = "failed" if outcome == "failed" else "succeeded"
                records.append({**step, "status": status, "finished_at": began + 2})
                journal.append(*records)
            status = "died" if died else "succeeded"
            journal.append({**run, "status": status, "finished_at": self.at + 5}, durable=True)
        StateStore(self.home).index_pending()
        return run_id

    def check(self, run_id: str, partition: str, *, passed: bool, on: str | None = None) -> Any:
        seq, at = self.tick()
        return make_record(
            "check",
            check_result_id=str(uuid.uuid4()),
            run_id=run_id,
            asset_key="a",
            partition_key=partition,
            check_name="positive",
            status="passed" if passed else "failed",
            passed=passed,
            severity="error",
            blocking=True,
            materialization_id=on or self.current[partition],
            checked_at=at,
            seq=seq,
        )


def columns(home: Path) -> dict[str, tuple[bool, bool, bool]]:
    """Per partition: (attempted, failed, blocked)."""
    found = StateReader(home).attempt_columns(
        [{"asset_key": "a", "ordinal": 0, "keyset": 0}],
        {"keyset": [0] * len(KEYS), "partition_key": KEYS, "idx": list(range(len(KEYS)))},
    )
    return {
        KEYS[int(i)]: (not math.isnan(float(at)), bool(failed), bool(blocked))
        for i, at, failed, blocked in zip(
            found["idx"], found["attempted"], found["failed"], found["blocked"], strict=True
        )
    }


def test_failures_and_blocking_checks_count_only_against_the_current_materialization(tmp_path):
    history = History(tmp_path)
    history.run(("p1", "ok"), ("p2", "failed"), ("p3", "check-failed"), ("p4", "check-failed"))
    history.run(("p2", "ok"), ("p4", "check-passed"), ("p5", "failed"))
    history.run(("p6", "running"), died=True)
    # a failed blocking check of p1's materialization before the current one
    old = history.current["p1"]
    history.run(("p1", "ok"))
    with Journal(tmp_path / "journal", "late-check") as journal:
        journal.append(history.check("late-check", "p1", passed=False, on=old), durable=True)
    StateStore(tmp_path).index_pending()

    assert columns(tmp_path) == {
        "p1": (True, False, False),  # the failed check judged an older materialization
        "p2": (True, False, False),  # failed, then materialized: not failed any more
        "p3": (True, False, True),  # its blocking check failed on what is current
        "p4": (True, False, False),  # the latest result of the check passed
        "p5": (True, True, False),  # its latest step failed, nothing materialized
        "p6": (True, True, False),  # its run died while it ran
    }


def test_nothing_failed_reads_no_current_materialization(tmp_path):
    history = History(tmp_path)
    history.run(("p1", "ok"), ("p2", "check-passed"))
    assert columns(tmp_path) == {"p1": (True, False, False), "p2": (True, False, False)}


def test_a_step_whose_run_died_failed_and_moves_the_attempt_mark(tmp_path):
    history = History(tmp_path)
    history.run(("p1", "ok"))
    reader = StateReader(tmp_path)
    _, seq, attempt = reader.changed_assets(0, 0)
    assert reader.changed_assets(seq, attempt) == (set(), seq, attempt)  # nothing new
    run_id = history.run(("p2", "running"))
    names, seq, later = reader.changed_assets(seq, attempt)
    assert names == {"a"}
    assert later > attempt  # a step started
    assert columns(tmp_path)["p2"] == (True, False, False)  # still running, its run alive
    with Journal(tmp_path / "journal", "control") as journal:  # as recover_dead() journals it
        journal.append({"type": "run_died", "run_id": run_id, "at": time.time()}, durable=True)
    StateStore(tmp_path).index_pending()
    names, _, last = reader.changed_assets(seq, later)
    assert names == {"a"}
    assert last > later
    assert columns(tmp_path)["p2"] == (True, True, False)


def _attempts(home: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "assay.duckdb"), read_only=True)
    try:
        return con.execute("SELECT * EXCLUDE (seq) FROM partition_attempts ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_the_latest_attempt_does_not_depend_on_how_journals_are_indexed(tmp_path):
    first = tmp_path / "first"
    history = History(first)
    runs = [
        history.run(("p1", "failed"), ("p2", "ok")),
        history.run(("p1", "ok"), ("p3", "running"), died=True),
        history.run(("p2", "failed"), ("p4", "check-failed")),
    ]
    done = first / "journal" / "done"  # where indexed journals go, compressed
    for name, order in (("together", runs), ("reversed", runs[::-1])):
        home = tmp_path / name
        (home / "journal").mkdir(parents=True)
        for run_id in order:  # "reversed": the latest run's journal is indexed first
            lines = gzip.decompress((done / f"{run_id}.jsonl.gz").read_bytes())
            (home / "journal" / f"{run_id}.jsonl").write_bytes(lines)
            if name == "reversed":
                StateStore(home).index_pending()
        StateStore(home).index_pending()
        assert _attempts(home) == _attempts(first), name
        assert columns(home) == columns(first), name
    assert [(row[1], row[4]) for row in _attempts(first)] == [
        ("p1", "succeeded"),
        ("p2", "failed"),
        ("p3", "running"),
        ("p4", "succeeded"),
    ]
