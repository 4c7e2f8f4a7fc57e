"""One run as `assay runs show` prints it: a header, then its steps listed (a few)
or summarized (many: counted, the slowest, failures and skips folded per asset
and reason into partition ranges, the check results that did not pass)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from rich.console import Console

    from assay.state.models import CheckLine, LogLine, Run, RunOverview, Step

SHOWN_STEPS = 20  # a run with more steps is summarized; fewer are listed one by one
SHOWN_SLOWEST = 5
SHOWN_LOG_LINES = 20  # per step in the summary (`--step` and `--failed` show them all)
SHOWN_GROUPS = 10  # groups of failed, skipped or not passed shown, per section
# `upstream 'raw' partition 2024-01-03 failed` -> `upstream 'raw' failed`
_UPSTREAM_PARTITION = re.compile(r"^(upstream '[^']+') partition \S+(?:\.\.\S+)? (\w+)$")


def print_header(run: Run, overview: RunOverview | None = None) -> None:
    from assay.cli.render import console, escape, format_duration, format_time, status_text

    out = console()
    out.print(f"Run [bold]{run.run_id}[/]  {run.kind or 'run'}  {status_text(run.status)}")
    out.print(
        f"  started {format_time(run.started_at)}  took {format_duration(run.duration_s)}"
        f"  by {escape(str(run.user_name))}@{escape(str(run.host))}"
        f"  commit {(run.git_commit or '-')[:10]}"
    )
    out.print(f"  command: {escape(run.command or '-')}")
    if run.backfill_id:
        out.print(f"  backfill: {run.backfill_id}")
    from assay.run_config import shown_by_asset

    for asset, values in shown_by_asset(run.config):
        out.print(f"  config of {escape(asset)}: {escape(values)}")
    lineage = _lineage_line(run)
    if lineage:
        out.print(f"  lineage: {escape(lineage)}")
    if overview is None:
        return
    if overview.counts:
        counts = ", ".join(
            f"{count:,} {status_text(status)}" for status, count in _ordered(overview.counts)
        )
        out.print(f"  steps: {overview.step_count:,}: {counts}")
    if run.check_count:
        said = [f"{run.checks_passed or 0:,} passed"]
        for name, count in (
            ("warned", run.checks_warned),
            ("failed", run.checks_failed),
            ("errored", run.checks_errored),
        ):
            if count:
                said.append(f"{count:,} {status_text(name)}")
        partitions = run.checked_partitions or 0
        out.print(
            f"  checks: {run.check_count:,} results on {partitions:,} asset "
            f"partition{'s' * (partitions != 1)}: {', '.join(said)}"
        )
    if run.observation_count:
        assets = run.observed_assets or 0
        out.print(
            f"  observed: {run.observation_count:,} data versions of {assets:,} "
            f"source asset{'s' * (assets != 1)}"
        )
    if overview.step_count > SHOWN_STEPS and overview.slowest:
        slowest = ", ".join(
            f"{escape(s.step_key)} {format_duration(s.duration_s)}" for s in overview.slowest
        )
        out.print(f"  slowest: {slowest}")


_ORDER = ("succeeded", "failed", "died", "skipped", "running", "canceled")


def _ordered(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Statuses in the order people read them: succeeded, failed, ..., the rest."""
    return sorted(counts.items(), key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER else 99)


def print_step_table(steps: Sequence[Step], logs: Sequence[LogLine]) -> None:
    """A few steps, one a row, then each one's logs and traceback."""
    from assay.cli.render import console, escape, format_duration, status_text, table

    out = console()
    if steps:
        grid = table("step", "status", "duration", "detail")
        for step in steps:
            grid.add_row(
                escape(step.step_key),
                status_text(step.status),
                format_duration(step.duration_s),
                escape(step.error or step.skip_reason or ""),
            )
        out.print(grid)
    by_step = _logs_by_step(logs)
    for step in steps:
        if by_step.get(step.step_key) or step.traceback:
            _print_step_logs(out, step, by_step.get(step.step_key, []), limit=None)


def print_steps_in_full(steps: Sequence[Step], logs: Sequence[LogLine]) -> None:
    """Every step asked for: status, timing, attempts, error fields, logs, traceback."""
    from assay.cli.render import console, escape, format_duration, status_text

    out = console()
    if not steps:
        out.print("\nNo step asked for failed in this run.")
        return
    by_step = _logs_by_step(logs)
    for step in steps:
        attempts = f", {step.attempts} attempts" if (step.attempts or 0) > 1 else ""
        out.print(
            f"\n[bold]{escape(step.step_key)}[/]  {status_text(step.status)}  "
            f"{format_duration(step.duration_s)}{attempts}"
        )
        if step.error_type:
            out.print(f"  {escape(_where(step))}")
        if step.error or step.skip_reason:
            out.print(f"  {escape(step.error or step.skip_reason or '')}")
        _print_step_logs(out, step, by_step.get(step.step_key, []), limit=None, title=False)


def _print_step_logs(
    out: Console, step: Step, logs: Sequence[LogLine], *, limit: int | None, title: bool = True
) -> None:
    from assay.cli.render import escape, format_time

    if title:
        out.print(f"\n[bold]{escape(step.step_key)}[/] logs:")
    shown = logs if limit is None else logs[:limit]
    for log in shown:
        out.print(f"  {format_time(log.logged_at)} {log.level:<7} {escape(log.message or '')}")
    if limit is not None and len(logs) > limit:
        out.print(f"  … more: `--step {escape(step.step_key)}`")
    if step.traceback:
        out.print(escape(step.traceback.rstrip()), style="red")


def _logs_by_step(logs: Iterable[LogLine]) -> dict[str, list[LogLine]]:
    by_step: dict[str, list[LogLine]] = {}
    for log in logs:
        by_step.setdefault(log.step_key, []).append(log)
    return by_step


def _where(step: Step) -> str:
    """`ValueError at pipeline.py:12`."""
    where = f" at {step.error_location}" if step.error_location else ""
    return f"{step.error_type}{where}"


def print_problems(overview: RunOverview) -> None:
    """The steps that did not succeed, folded per asset and reason into partition
    ranges; then, for each group that failed, the first step's logs and traceback."""
    from assay.cli.render import console, escape, status_text

    out = console()
    groups: dict[tuple[str, str, str], list[Step]] = {}
    for step in overview.problems:
        groups.setdefault((step.status, step.asset_key, _reason(step)), []).append(step)
    by_status: dict[str, list[tuple[str, str, list[Step]]]] = {}
    for (status, asset, reason), found in groups.items():
        by_status.setdefault(status, []).append((asset, reason, found))
    run_id = overview.run.run_id[:8]
    for status, _ in _ordered({s: 0 for s in by_status}):
        entries = by_status[status]
        total = sum(len(found) for _, _, found in entries)
        out.print(f"\n{_title(status)} ({total:,}):")
        for asset, reason, found in entries[:SHOWN_GROUPS]:
            where = _fold(overview.partitions.get(asset, ()), [s.partition_key for s in found])
            head = escape(asset) + (f"  {escape(where)}" if where else "")
            out.print(f"  {head}  {escape(reason)}")
            if len(found) > 1 or _example_differs(found[0], reason):
                example = found[0]
                if example.error or example.skip_reason:
                    out.print(
                        f"    e.g. {escape(example.step_key)}: "
                        f"{escape(_clip(example.error or example.skip_reason or ''))}"
                    )
        if len(entries) > SHOWN_GROUPS:
            rest = sum(len(found) for _, _, found in entries[SHOWN_GROUPS:])
            out.print(
                f"  … {len(entries) - SHOWN_GROUPS:,} more groups ({rest:,} steps): "
                f"`assay runs show {run_id} --json`"
            )
    by_step = _logs_by_step(overview.logs)
    failed = [found for (status, _, _), found in groups.items() if status in ("failed", "died")][
        :SHOWN_GROUPS
    ]
    for found in failed:
        first = found[0]
        attempts = f" after {first.attempts} attempts" if (first.attempts or 0) > 1 else ""
        title = f"\n[bold]{escape(first.step_key)}[/] {status_text(first.status)}{attempts}"
        if first.error_type:
            title += f": {escape(_where(first))}"
        elif first.error:
            title += f": {escape(_clip(first.error))}"
        out.print(title)
        logs = by_step.get(first.step_key, [])
        _print_step_logs(out, first, logs, limit=SHOWN_LOG_LINES, title=False)
        if len(found) > 1:
            out.print(
                f"  ({len(found) - 1:,} more failed like it: `assay runs show {run_id} --failed`)"
            )


def _title(status: str) -> str:
    """`[red]Failed[/]`: a section's title, in its status's style."""
    from assay.cli.render import status_text

    styled = status_text(status)
    return styled.replace(status, status.capitalize(), 1)


def _reason(step: Step) -> str:
    """What steps of one asset share when they failed (or were skipped) alike: the
    exception and where it was raised, else the message; a skip's upstream."""
    if step.status == "skipped":
        reason = step.skip_reason or "skipped"
        found = _UPSTREAM_PARTITION.match(reason)
        return f"{found.group(1)} {found.group(2)}" if found else reason
    if step.status == "running":
        return "running"
    if step.error_type:
        return _where(step)
    text = step.error or step.status
    return text if step.partition_key is None else text.replace(step.partition_key, "…")


def _example_differs(step: Step, reason: str) -> bool:
    return (step.error or step.skip_reason or reason) != reason


def print_check_problems(overview: RunOverview) -> None:
    """The check results of the run that did not pass, per asset, check and outcome,
    with their partitions as ranges and one example of what was found."""
    from assay.cli.render import console, escape, status_text

    if not overview.check_problems:
        return
    groups: dict[tuple[str, str, str], list[CheckLine]] = {}
    for line in overview.check_problems:
        groups.setdefault((line.asset_key, line.check_name, line.outcome), []).append(line)
    out = console()
    out.print(f"\nChecks that did not pass ({len(overview.check_problems):,}):")
    for (asset, check, outcome), found in list(groups.items())[:SHOWN_GROUPS]:
        where = _fold(overview.partitions.get(asset, ()), [c.partition_key for c in found])
        severity = found[0].severity + (", blocking" if found[0].blocking else "")
        out.print(
            f"  {escape(asset)}  {escape(check)}  {status_text(outcome)} ({severity})"
            + (f"  {escape(where)}" if where else "")
        )
        example = found[0]
        detail = example.error or _metadata(example.metadata)
        if detail:
            at = f"{example.partition_key}: " if example.partition_key else ""
            out.print(f"    e.g. {escape(at)}{escape(_clip(detail))}")
    if len(groups) > SHOWN_GROUPS:
        out.print(f"  … {len(groups) - SHOWN_GROUPS:,} more: `assay check --json`")


def _metadata(text: str | None) -> str:
    import json

    from assay.cli.check import metadata_text

    if not text:
        return ""
    try:
        return metadata_text(json.loads(text))
    except ValueError:
        return text


def _fold(order: Sequence[str], keys: Iterable[str | None], *, ranges: int = 6) -> str:
    """Partition keys as ranges of the run's own partitions of the asset (`order`):
    `2024-03-01..2024-03-03 (3), 2024-05-01`; the first `ranges` of them."""
    position = {key: i for i, key in enumerate(order)}
    given = sorted({key for key in keys if key}, key=lambda k: (position.get(k, len(order)), k))
    spans: list[list[str]] = []
    last = -2
    for key in given:
        at = position.get(key)
        if at is not None and spans and at == last + 1:
            spans[-1].append(key)
        else:
            spans.append([key])
        last = at if at is not None else -2
    parts = [
        span[0] if len(span) == 1 else f"{span[0]}..{span[-1]} ({len(span):,})"
        for span in spans[:ranges]
    ]
    if len(spans) > ranges:
        rest = sum(len(span) for span in spans[ranges:])
        parts.append(f"… and {rest:,} more in {len(spans) - ranges:,} ranges")
    return ", ".join(parts)


def _clip(text: str, chars: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _lineage_line(run: Run) -> str | None:
    """`52 events; 52 sent to http://...` (or why not), for a run that recorded lineage."""
    if not run.lineage_events:
        return None
    text = f"{run.lineage_events} events"
    if run.lineage_errors:
        text += f", {run.lineage_errors} could not be built"
    if run.lineage_target:
        sent, failed = run.lineage_sent or 0, run.lineage_failed or 0
        text += f"; {sent} of {sent + failed} sent to {run.lineage_target}"
        if failed:
            text += f" ({run.lineage_error})"
    return text
