"""The UI's health: kept incrementally, it says what a full evaluation says."""

from __future__ import annotations

import numpy as np
import pytest

import assay
from assay.web.health import FAILED, RUNNING, HealthKeeper
from tests.conftest import wait_for


def same(a: HealthKeeper, b: HealthKeeper) -> None:
    assert a.latest is not None
    assert b.latest is not None
    assert set(a.latest.assets) == set(b.latest.assets)
    for key, health in a.latest.assets.items():
        other = b.latest.assets[key]
        assert health.status == other.status, key
        assert np.array_equal(health.codes, other.codes), key


def test_incremental_refreshes_agree_with_a_full_evaluation(
    make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project("ui_shop")
    project = assay.load()
    home = project.config.home
    keeper = HealthKeeper(project.graph, home)
    keeper.refresh()
    assert keeper.latest is not None
    assert {k.status for k in keeper.latest.assets.values()} == {"missing"}
    monkeypatch.setenv("UI_FAIL_DAYS", "2024-01-10")
    assay.load().materialize()
    assert keeper.refresh() is not None
    assert not keeper.latest.full
    fresh = HealthKeeper(project.graph, home)
    fresh.refresh()
    same(keeper, fresh)
    events = keeper.latest.assets[next(k for k in keeper.latest.assets if str(k) == "events")]
    assert events.status == "failed"
    assert int((events.codes == FAILED).sum()) == 1
    monkeypatch.delenv("UI_FAIL_DAYS")
    assay.load().materialize()  # the failed day and what reads it, now fine
    keeper.refresh()
    fresh = HealthKeeper(project.graph, home)
    fresh.refresh()
    same(keeper, fresh)
    assert {k.status for k in keeper.latest.assets.values()} == {"fresh"}
    assert (root / ".assay").is_dir()


def test_what_a_live_run_computes_is_running(make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    make_project("ui_shop")
    monkeypatch.setenv("UI_STEP_S", "0.3")  # the launched run inherits it
    project = assay.load()
    keeper = HealthKeeper(project.graph, project.config.home)
    launched = project.launch("events", force=True)
    try:

        def running() -> bool:
            health = keeper.refresh()
            return health is not None and any(
                (h.codes == RUNNING).any() for h in health.assets.values()
            )

        wait_for(running, timeout_s=60)
        found = {str(k): h for k, h in keeper.latest.assets.items()}  # type: ignore[union-attr]
        assert found["events"].status == "running"
        assert found["events"].running_in == launched.run_id
    finally:
        launched.cancel()
        launched.wait(timeout_s=60)


def test_a_failure_after_the_store_was_rebuilt_is_seen_by_the_next_refresh(
    make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuilt store numbers its attempts afresh, below the marks the keeper read up
    to: it notices the new file and reads it all again."""
    from assay.state.store import StateStore

    make_project("ui_shop")
    project = assay.load()
    home = project.config.home
    for _ in range(3):  # each run's index numbers its attempts; a rebuild numbers fewer
        project.materialize(force=True)
    keeper = HealthKeeper(project.graph, home)
    keeper.refresh()
    StateStore(home).rebuild()
    monkeypatch.setenv("UI_FAIL_DAYS", "2024-01-10")
    assay.load().materialize("events", partitions=["2024-01-10"], force=True)  # it fails
    keeper.refresh()
    fresh = HealthKeeper(project.graph, home)
    fresh.refresh()
    same(keeper, fresh)
    events = keeper.latest.assets[next(k for k in keeper.latest.assets if str(k) == "events")]
    assert events.status == "failed"
