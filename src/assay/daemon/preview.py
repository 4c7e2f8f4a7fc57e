"""One evaluation of every automation condition as the next tick would make it,
recording nothing: `assay automation preview` and `assay why --automation`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from assay.daemon.clock import FixedClock, SystemClock
from assay.daemon.engine import Engine
from assay.state.automation import AutomationReader

if TYPE_CHECKING:
    from datetime import datetime

    from assay.daemon.conditions import ConditionTicker
    from assay.definitions import Definitions


def preview(
    config: Any, definitions: Definitions, now: datetime, *, real_clock: bool, explain: bool = False
) -> ConditionTicker:
    """One evaluation of every condition as the next tick would make it, recording
    nothing (`assay automation preview`, `assay why --automation`): conditions never
    evaluated get their baseline now, so their history is reported, not requested."""
    clock = SystemClock() if real_clock else FixedClock(now)
    engine = Engine(config, definitions, clock=clock, session=f"preview-{os.getpid()}")
    reader = AutomationReader(config.home)
    engine.conditions.load(reader)
    engine.conditions.evaluate(now, record=False, keep_masks=explain)
    return engine.conditions
