"""The engine's evaluation in this process, on a fixed clock: schedules that share
a cron walk it once per evaluation, yet each ticks from its own cursor; a reload
that changes a cron forgets the next tick of the old one."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import assay
from assay import Definitions, Schedule
from assay.daemon.clock import FixedClock
from assay.daemon.engine import Engine


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def queued(engine: Engine) -> list[str]:
    keys = [request.run_key for request in engine.queue]
    engine.queue.clear()
    return sorted(keys)


def test_schedules_on_one_cron_tick_each_from_its_own_cursor(make_project):
    root = make_project("shared_crons")
    project = assay.load(home=root / ".assay")
    module = importlib.import_module(project.config.module)
    a, b, c = (module.hourly[name] for name in "abc")
    assets = project.definitions.assets

    clock = FixedClock(at("2024-03-01T10:30"))
    engine = Engine(
        project.config, Definitions(assets=assets, schedules=[a]), clock=clock, session="t"
    )
    try:
        engine.evaluate_due()  # a ticks from 10:30 on
        clock.at = at("2024-03-01T11:05")
        engine.evaluate_due()
        assert queued(engine) == ["schedule:a:2024-03-01T11:00:00+00:00"]

        engine.use(Definitions(assets=assets, schedules=[b, c]))
        clock.at = at("2024-03-01T12:10")
        engine.evaluate_due()  # b and c tick from 12:10 on, a is not evaluated
        engine.use(project.definitions)
        clock.at = at("2024-03-01T12:30")
        engine.evaluate_due()  # a from 11:00 is due at 12:00, b and c from 12:10 are not
        assert queued(engine) == ["schedule:a:2024-03-01T12:00:00+00:00"]

        clock.at = at("2024-03-02T00:30")  # 13:00 ... 00:00 passed, and a UTC day closed
        engine.evaluate_due()
        assert queued(engine) == [
            "schedule:a:2024-03-02T00:00:00+00:00",
            "schedule:b:2024-03-02T00:00:00+00:00",
            "schedule:c:2024-03-02T00:00:00+00:00",
            "schedule:days_0:2024-03-02T00:00:00+00:00",
            "schedule:days_1:2024-03-02T00:00:00+00:00",
        ]
    finally:
        engine.close(clean=True)


def test_a_reload_that_changes_a_cron_ticks_on_the_new_one(make_project):
    root = make_project("shared_crons")
    project = assay.load(home=root / ".assay")
    assets = project.definitions.assets
    nightly = Definitions(assets=assets, schedules=[Schedule("x", "flat", cron="0 0 * * *")])
    clock = FixedClock(at("2024-03-01T10:30"))
    engine = Engine(project.config, nightly, clock=clock, session="t")
    try:
        engine.evaluate_due()
        clock.at = at("2024-03-01T10:31")
        engine.evaluate_due()  # none due: the next tick is at midnight
        engine.use(
            Definitions(assets=assets, schedules=[Schedule("x", "flat", cron="*/5 * * * *")])
        )
        clock.at = at("2024-03-01T10:40")
        engine.evaluate_due()
        assert queued(engine) == ["schedule:x:2024-03-01T10:40:00+00:00"]
    finally:
        engine.close(clean=True)
