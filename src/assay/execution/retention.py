"""Retention (`[tool.assay] retention`): a subscriber that, as a run ends, prunes what
is older than the setting, at most once a day (`state.prune.prune_if_due`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from assay.errors import StateError
from assay.execution.hooks import Hooks

if TYPE_CHECKING:
    from pathlib import Path

    from assay.execution.hooks import RunInfo
    from assay.results import RunStatus

_log = logging.getLogger("assay")


class RetentionHooks(Hooks):
    """Prunes the state home as runs end; a pass that cannot run now (the store busy,
    a read-only home) is left to the next run and never changes this one."""

    def __init__(self, home: Path, retention_s: float) -> None:
        self.home = home
        self.retention_s = retention_s

    def run_finished(self, run: RunInfo, status: RunStatus) -> None:
        from assay.state.prune import prune_if_due

        try:
            report = prune_if_due(self.home, self.retention_s)
        except (StateError, OSError) as exc:
            _log.debug("retention: no prune this time (%s)", exc)
            return
        if report is not None and report.runs:
            _log.info("retention: %s", report.describe())
