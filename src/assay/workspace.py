"""A state home without the definitions: for what reads runs and lineage, or stops a
run, and needs no user module (`assay runs`, `assay lineage`, a UI, a daemon).

    >>> import assay
    >>> workspace = assay.open_workspace(".assay")  # doctest: +SKIP
    >>> [run.status for run in workspace.state.runs(limit=3)]  # doctest: +SKIP
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from assay.config import resolve_config
from assay.errors import StateError
from assay.execution.cancel import cancel_flag, request_stop
from assay.lineage.explore import Lineage
from assay.state.reader import StateReader

if TYPE_CHECKING:
    import os
    from pathlib import Path


class Workspace:
    """The state home at `home`: its state reader and its lineage."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.state = StateReader(home)

    @cached_property
    def lineage(self) -> Lineage:
        return Lineage(self.home)

    def cancel_run(self, run_id: str) -> str:
        """Ask a running run (an id or a unique prefix) to stop: its running steps
        finish, nothing new starts, and it ends `canceled`. Returns its full id.

        Raises:
            UnknownRunError: no run, or several, match `run_id`.
            StateError: it is not running.
        """
        run = self.state.run_details(run_id).run
        if run.status != "running":
            raise StateError(f"run {run.run_id[:8]} is {run.status}: there is nothing to stop")
        request_stop(cancel_flag(self.home, "run", run.run_id))
        return run.run_id

    def __repr__(self) -> str:
        return f"Workspace({str(self.home)!r})"


def open_workspace(home: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace of `home`, else of the project found from the working directory
    (`ASSAY_HOME`, `[tool.assay] home`, `.assay`); no module is imported."""
    return Workspace(resolve_config(home=home).home)
