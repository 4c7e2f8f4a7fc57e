"""Launching runs detached: a materialization or a backfill in a process of its own,
its run id returned at once.

The launched process is an ordinary `assay materialize` (or `backfill start`)
in its own session (a terminal's Ctrl-C does not reach it), its output in
`<home>/logs/<run id>.log`, its run id given to it, so that everything true of
runs (a journal locked for its life, `died` once its process is gone, resume,
lineage) is true of launched runs. The caller can wait for it, follow its
steps, or cancel it (running steps finish, nothing new starts).

In a container, run assay under an init that reaps orphans (`docker run
--init`, tini): launched runs are re-parented to PID 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import StateError
from assay.execution.cancel import cancel_flag, request_stop
from assay.results import RunStatus
from assay.state.bundles import archived
from assay.state.journal import complete_lines, is_abandoned, read_lines
from assay.state.liveness import is_alive, process_start

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from assay.config import ProjectConfig

POLL_S = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchedRun:
    """A run started in a process of its own (not a child of the launcher's: it
    outlives it, and no one has to reap it)."""

    run_id: str
    pid: int
    home: Path
    log: Path  # what the process printed
    process_start: str = ""  # the process's start time, so that a reused PID is not it

    @property
    def journal(self) -> Path:
        live = self.home / "journal" / f"{self.run_id}.jsonl"
        done = self.home / "journal" / "done" / f"{self.run_id}.jsonl"
        for path in (live, done.with_name(done.name + ".gz"), done):  # .gz: archived
            if path.exists():
                return path
        return live

    def status(self) -> RunStatus | None:
        """The run's status as its journal says (None before it wrote its first record,
        or when its process ended without writing one; `died` when its process is
        gone without finishing it)."""
        found: RunStatus | None = None
        for record in self.records():
            if record.get("type") == "run" and record.get("run_id") == self.run_id:
                found = RunStatus(str(record["status"]))
            elif record.get("type") == "run_died":
                found = RunStatus.DIED
        if found is RunStatus.RUNNING and not self.is_alive() and is_abandoned(self.journal):
            return RunStatus.DIED
        return found

    def is_alive(self) -> bool:
        return is_alive(self.pid, self.process_start)

    def wait(self, timeout_s: float | None = None) -> RunStatus | None:
        """Wait for the run's process to end; the run's final status (None when the
        process ended before it recorded the run: a refused plan, a bad option; its
        log says why).

        Raises:
            TimeoutError: it did not end within `timeout_s`.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.is_alive():
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.run_id[:8]} is still running")
            time.sleep(POLL_S)
        return self.status()

    def cancel(self) -> None:
        """Ask the run to stop: running steps finish, nothing new starts (`canceled`)."""
        request_stop(cancel_flag(self.home, "run", self.run_id))

    def records(self) -> Iterator[dict[str, object]]:
        """The records the run has journaled so far (a line being written is left)."""
        try:
            lines, _ = read_lines(self.journal, 0)
        except FileNotFoundError:  # finished long ago: in a bundle of done/
            data = archived(self.home / "journal" / "done", f"{self.run_id}.jsonl")
            lines = [] if data is None else complete_lines(data)[0]
        for _, line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record

    def follow(self, *, poll_s: float = POLL_S) -> Iterator[dict[str, object]]:
        """Each record as the run journals it, until its process ends."""
        seen = 0
        while True:
            alive = self.is_alive()
            records = list(self.records())
            yield from records[seen:]
            seen = len(records)
            if not alive:
                return
            time.sleep(poll_s)


def launch(
    config: ProjectConfig,
    command: Sequence[str],
    *,
    run_id: str | None = None,
    env: dict[str, str] | None = None,
) -> LaunchedRun:
    """Start `assay <command>` for the project in a process of its own; return at once.

    `command` is what follows `assay` (`["materialize", "+revenue", "--force"]`);
    the project's module, file and home are passed along. The process is started
    by a shell that exits at once, so it is nobody's child but init's: a launcher
    that dies (a daemon restarting) neither kills it nor leaves a zombie.

    Raises:
        StateError: the process could not be started, or its log not written.
    """
    run_id = run_id or str(uuid.uuid4())
    log = config.home / "logs" / f"{run_id}.log"
    argv = [sys.executable, "-m", "assay", *command, *_project_args(config), "--run-id", run_id]
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        started = subprocess.run(
            ["/bin/sh", "-c", 'exec "$@" </dev/null >>"$ASSAY_LAUNCH_LOG" 2>&1 &\necho $!',
             "assay-launch", *argv],
            cwd=config.root,
            env={**os.environ, **(env or {}), "ASSAY_LAUNCH_LOG": str(log)},
            capture_output=True,
            text=True,
            start_new_session=True,  # its own session: a terminal's Ctrl-C does not reach it
            timeout=30,
            check=True,
        )  # fmt: skip
        pid = int(started.stdout.strip())
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise StateError(f"cannot launch `assay {' '.join(command)}`: {exc}") from exc
    return LaunchedRun(
        run_id=run_id, pid=pid, home=config.home, log=log, process_start=process_start(pid)
    )


def _project_args(config: ProjectConfig) -> list[str]:
    args = ["--home", str(config.home)]
    if config.file is not None:
        args += ["--file", str(config.file)]
    elif config.module is not None:
        args += ["--module", config.module]
    return args
