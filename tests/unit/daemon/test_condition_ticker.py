"""The daemon's incremental evaluation of conditions, in this process on a real state
home: after each change (new data, a re-run with the same data, a failure, a request
handled), a tick that reads only what moved gives what one full evaluation gives."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime

import pytest

import assay
from assay.daemon.clock import FixedClock
from assay.daemon.engine import Engine
from assay.state.store import StateStore

NOW = datetime(2024, 1, 6, 12, tzinfo=UTC)


def requested(ticker) -> dict[str, list[int]]:
    return {
        str(key): sorted(evaluation.requested)
        for key, evaluation in ticker.last.items()
        if evaluation.requested
    }


def counts(ticker) -> dict[str, tuple]:
    return {str(key): evaluation.counts for key, evaluation in ticker.last.items()}


def test_an_incremental_tick_gives_what_a_full_evaluation_gives(make_project, monkeypatch):
    root = make_project("automated")
    monkeypatch.setenv("ORDERS_VERSION", "1")
    project = assay.load(home=root / ".assay")
    project.materialize(partition_range=("2024-01-01", "2024-01-05"), now=NOW)
    engine = Engine(project.config, project.definitions, clock=FixedClock(NOW), session="t")
    ticker = engine.conditions
    try:
        ticker.evaluate(NOW, record=False)  # the first: a full one
        assert requested(ticker) == {}

        def changed(selection: str = "orders", **env: str) -> None:
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            project.materialize(selection, partitions=["2024-01-03"], force=True, now=NOW)
            ticker.evaluate(NOW, record=False)  # incremental: only what moved is read
            fresh = Engine(project.config, project.definitions, clock=FixedClock(NOW), session="f")
            full = fresh.conditions
            full.recorded = dict(ticker.recorded)  # the same baselines, read from nothing
            full.evaluate(NOW, record=False)
            fresh.close(clean=True)
            assert requested(ticker) == requested(full)
            assert counts(ticker) == {k: v for k, v in counts(full).items() if k in counts(ticker)}

        changed()  # the same data again: nothing
        assert requested(ticker) == {}
        changed(ORDERS_VERSION="2")  # new data for one day: revenue and margins that day
        assert requested(ticker) == {"revenue": [2], "margins": [2]}
        changed("revenue margins")  # what it requested ran: report, once both did
        assert requested(ticker) == {"report": [2]}
    finally:
        engine.close(clean=True)


def attempts(ticker) -> dict[str, tuple[list[float], list[bool], list[bool]]]:
    return {
        str(key): (
            [round(float(x), 3) for x in held.attempted],
            [bool(x) for x in held.failed],
            [bool(x) for x in held.blocked],
        )
        for key, held in ticker.attempts.items()
    }


@pytest.mark.parametrize("rebuilt", [False, True], ids=["same-store", "store-rebuilt"])
def test_incremental_ticks_follow_a_failure_and_its_fix_as_a_full_evaluation_does(
    make_project, monkeypatch, tmp_path, rebuilt
):
    """Also across `assay state rebuild` before the fix: the new store numbers its
    attempts afresh, below what the ticker had read, so it must notice the new file."""
    root = make_project("automated")
    failing = tmp_path / "fail"
    monkeypatch.setenv("FAIL_REVENUE", str(failing))
    project = assay.load(home=root / ".assay")
    project.materialize(partition_range=("2024-01-01", "2024-01-05"), now=NOW)
    engine = Engine(project.config, project.definitions, clock=FixedClock(NOW), session="t")
    ticker = engine.conditions

    def agrees() -> None:
        ticker.evaluate(NOW, record=False)  # incremental: the attempts that moved are read
        fresh = Engine(project.config, project.definitions, clock=FixedClock(NOW), session="f")
        full = fresh.conditions
        full.recorded = dict(ticker.recorded)
        full.evaluate(NOW, record=False)
        fresh.close(clean=True)
        assert requested(ticker) == requested(full)
        assert attempts(ticker) == {
            k: v for k, v in attempts(full).items() if k in attempts(ticker)
        }

    try:
        ticker.evaluate(NOW, record=False)
        monkeypatch.setenv("ORDERS_VERSION", "2")
        project.materialize("orders", partitions=["2024-01-03"], force=True, now=NOW)
        agrees()
        assert requested(ticker) == {"revenue": [2], "margins": [2]}
        failing.touch()
        with contextlib.suppress(Exception):  # revenue fails that day
            project.materialize("revenue margins", partitions=["2024-01-03"], now=NOW)
        agrees()
        assert attempts(ticker)["revenue"][1][2]  # its latest attempt failed
        assert "report" not in requested(ticker)  # not while a dependency failed
        failing.unlink()
        if rebuilt:
            StateStore(root / ".assay").rebuild()
        project.materialize("revenue", partitions=["2024-01-03"], now=NOW)
        agrees()
        assert not any(attempts(ticker)["revenue"][1])
        assert requested(ticker) == {"report": [2]}
    finally:
        engine.close(clean=True)


@pytest.mark.parametrize("record", [False, True], ids=["preview", "daemon"])
def test_a_tick_after_nothing_was_recorded_does_not_open_the_store(
    make_project, monkeypatch, record
):
    from assay.state.store import StateStore

    root = make_project("automated")
    project = assay.load(home=root / ".assay")
    project.materialize(partition_range=("2024-01-01", "2024-01-05"), now=NOW)
    engine = Engine(project.config, project.definitions, clock=FixedClock(NOW), session="t")
    ticker = engine.conditions
    opened = []
    reading = StateStore.reading

    def counted(self, **kwargs):
        opened.append(1)
        return reading(self, **kwargs)

    monkeypatch.setattr(StateStore, "reading", counted)
    try:
        for _ in range(3):  # until its own records (the first tick's) are indexed
            ticker.evaluate(NOW, record=record)
            time.sleep(0.15)  # the files older than a tick of the file system's clock
        opened.clear()
        ticker.evaluate(NOW, record=record)
        assert opened == []
        monkeypatch.setenv("ORDERS_VERSION", "2")  # new data: read, and requested
        project.materialize("orders", partitions=["2024-01-03"], force=True, now=NOW)
        ticker.evaluate(NOW, record=False)
        assert opened
        assert requested(ticker) == {"revenue": [2], "margins": [2]}
    finally:
        engine.close(clean=True)
