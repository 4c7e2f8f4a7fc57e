"""How runs show progress: a line per step (materialize), a live bar (backfill on a
terminal) or periodic plain lines (backfill in CI), and Ctrl-C that lets running
steps finish."""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from assay.execution.hooks import Hooks

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from rich.progress import Progress, TaskID

    from assay.execution.hooks import RunInfo, StepAttempt
    from assay.results import StepResult

PLAIN_INTERVAL_S = 10.0


class StepLines(Hooks):
    """One line per step. Plain click styling: rich's import would cost more than a step."""

    def run_started(self, run: RunInfo) -> None:
        short = click.style(run.run_id[:8], bold=True)
        click.echo(f"Run {short} ({run.run_id}): {len(run.step_keys)} steps")

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None:
        click.echo(
            f"  {click.style('↻', fg='yellow')} {_keys(results)}  failed: {results[0].message}; "
            f"retry {attempt.attempt} in {wait_s:.1f} s"
        )

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None:
        for result in results:
            self._finished(result)

    def _finished(self, result: StepResult) -> None:
        key = result.step_key
        if result.stored is not None:
            stored = result.stored
            rows = "" if stored.row_count is None else f"{stored.row_count:,} rows  "
            stats = (
                f"{rows}{format_bytes(stored.byte_size)}" if stored.location else "nothing stored"
            )
            timing = f"{result.duration_s * 1000:.0f} ms"
            detail = click.style(f"{stats}  {timing}", dim=True)
            click.echo(f"  {click.style('✓', fg='green')} {key}  {detail}{checks_text(result)}")
        elif result.skip_reason:
            click.echo(f"  {click.style('-', fg='yellow')} {key}  skipped: {result.skip_reason}")
        else:
            click.echo(f"  {click.style('✗', fg='red')} {key}  failed: {result.message}")

    def notice(self, run: RunInfo | None, message: str) -> None:
        click.echo(f"{click.style('Note:', fg='yellow')} {message}", err=True)


class BackfillProgress(Hooks):
    """Partitions done, failed, skipped and running, with rate and ETA.

    On a terminal, a live rich bar (failures print above it); otherwise (CI, a
    pipe) a plain line every `PLAIN_INTERVAL_S` seconds and one per failure.
    """

    def __init__(self, *, live: bool | None = None, interval_s: float = PLAIN_INTERVAL_S) -> None:
        self.live = sys.stdout.isatty() if live is None else live
        self.interval_s = interval_s
        self.total = 0
        self.counts = {"succeeded": 0, "failed": 0, "skipped": 0}
        self.running = 0
        self.started = time.monotonic()
        self.last_line = self.started
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.console: Any = None

    def run_started(self, run: RunInfo) -> None:
        self.total = len(run.step_keys)
        self.started = self.last_line = time.monotonic()
        label = f"Backfill {run.backfill_id}" if run.backfill_id else "Run"
        click.echo(f"{label}: {self.total} asset partitions (run {run.run_id[:8]})")
        if self.live:
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from assay.cli.render import console

        self.console = self.console or console()
        self._progress = Progress(
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._task = self._progress.add_task("backfill", total=self.total, detail="", rate="")
        self._progress.start()

    def step_dispatched(self, run: RunInfo, attempt: StepAttempt) -> None:
        self.running += len(attempt.step_keys)
        self._update()

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None:
        self.running -= len(results)
        keys, error, retry = _keys(results), results[0].message, attempt.attempt
        self._say(
            f"[yellow]↻[/] {keys} failed: {error}; retry {retry} in {wait_s:.1f} s",
            f"retry {retry} of {keys} in {wait_s:.1f} s: {error}",
        )

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None:
        for result in results:
            status = result.status.value
            self.counts[status] = self.counts.get(status, 0) + 1
            if status != "skipped":
                self.running = max(self.running - 1, 0)
            if status == "failed":
                self._say(
                    f"[red]✗[/] {result.step_key} failed: {result.message}",
                    f"failed {result.step_key}: {result.message}",
                )
        self._update()

    def notice(self, run: RunInfo | None, message: str) -> None:
        self._say(f"[yellow]Note:[/] {message}", f"Note: {message}")

    def close(self) -> None:
        if self._progress is not None:
            self._update()
            self._progress.stop()
            self._progress = None
        else:
            click.echo(self.line())

    def done(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        done = self.done()
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else None
        return (
            f"{done}/{self.total} done: {self.counts['succeeded']} succeeded, "
            f"{self.counts['failed']} failed, {self.counts['skipped']} skipped, "
            f"{self.running} running; {rate:.1f}/s"
            + ("" if eta is None or done == self.total else f", ETA {_clock(eta)}")
        )

    def _update(self) -> None:
        if self._progress is not None and self._task is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            detail = (
                f"[green]{self.counts['succeeded']} ok[/] [red]{self.counts['failed']} failed[/] "
                f"[yellow]{self.counts['skipped']} skipped[/] [cyan]{self.running} running[/]"
            )
            self._progress.update(
                self._task,
                completed=self.done(),
                detail=detail,
                rate=f"{self.done() / elapsed:.1f}/s",
            )
            return
        now = time.monotonic()
        if now - self.last_line >= self.interval_s:
            self.last_line = now
            click.echo(self.line())

    def _say(self, rich_text: str, plain: str) -> None:
        if self._progress is not None:
            self._progress.console.print(rich_text)
        else:
            click.echo(plain)


def _keys(results: Sequence[StepResult]) -> str:
    """`raw[2024-01-01]`, or `raw[2024-01-01] and 30 more` for a batch."""
    more = f" and {len(results) - 1} more" if len(results) > 1 else ""
    return results[0].step_key + more


def checks_text(result: StepResult) -> str:
    """`  checks 3/3`, or which did not pass (a warning does not fail the step)."""
    if not result.checks:
        return ""
    bad = [c for c in result.checks if not c.passed]
    passed = len(result.checks) - len(bad)
    text = f"  checks {passed}/{len(result.checks)}"
    if not bad:
        return click.style(text, dim=True)
    names = ", ".join(f"{c.name} {c.status} ({c.severity})" for c in bad)
    return click.style(f"{text}: {names}", fg="yellow")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class Interrupts:
    """The first Ctrl-C asks the run to stop (running steps finish); the second stops now."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        click.echo(
            "\nInterrupted: running steps finish, nothing new starts (Ctrl-C again stops now).",
            err=True,
        )


@contextmanager
def graceful_interrupts() -> Iterator[Interrupts]:
    """Install `Interrupts` for SIGINT while the block runs (main thread only)."""
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    previous = signal.signal(signal.SIGINT, interrupts._handle)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)
