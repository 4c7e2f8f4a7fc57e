"""A run's step timeline (a Gantt chart) as SVG: a row per step, from when it
started to when it finished (to now while it runs), coloured by its status."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.state.models import Step

ROW_PX = 16
LABEL_PX = 260
MAX_ROWS = 1_000  # past that, the chart shows the first steps by start and says so


def gantt_svg(
    steps: Sequence[Step],
    *,
    started: datetime | None,
    finished: datetime | None,
    width: int = 1100,
    now: datetime | None = None,
) -> str:
    """The timeline of `steps` between the run's start and its end (or now)."""
    from assay.web.text import duration

    now = now or datetime.now(UTC)
    timed = sorted(
        (s for s in steps if s.started_at is not None),
        key=lambda s: (s.started_at, s.step_key),
    )
    shown = timed[:MAX_ROWS]
    begin = started or (shown[0].started_at if shown else now)
    assert begin is not None
    end = finished or now
    if shown:
        last = max((s.finished_at or now) for s in shown)
        end = max(end, last)
    span = max((end - begin).total_seconds(), 1e-3)
    plot = width - LABEL_PX - 10
    height = ROW_PX * len(shown) + 24
    parts = [
        f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="step timeline: {len(timed)} steps over {escape(duration(span))}">'
    ]
    for tick in range(5):
        x = LABEL_PX + plot * tick / 4
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}"/>'
            f'<text class="axis" x="{x:.1f}" y="{height - 4}">'
            f"{escape(duration(span * tick / 4))}</text>"
        )
    for row, step in enumerate(shown):
        assert step.started_at is not None
        y = row * ROW_PX
        x0 = LABEL_PX + plot * (step.started_at - begin).total_seconds() / span
        stop = step.finished_at or now
        x1 = LABEL_PX + plot * (stop - begin).total_seconds() / span
        label = step.asset_key + (f"[{step.partition_key}]" if step.partition_key else "")
        took = duration((stop - step.started_at).total_seconds())
        parts.append(
            f'<g class="step status-{escape(step.status)}">'
            f"<title>{escape(label)}: {escape(step.status)}, {escape(took)}"
            f"{'' if step.finished_at else ' so far'}</title>"
            f'<text class="label" x="{LABEL_PX - 6}" y="{y + 12}">{escape(_clip(label))}</text>'
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 1.5):.1f}" '
            f'height="{ROW_PX - 5}"/>'
            "</g>"
        )
    parts.append("</svg>")
    if len(timed) > MAX_ROWS:
        parts.append(
            f'<p class="note">The first {MAX_ROWS:,} of {len(timed):,} steps by start time.</p>'
        )
    return "".join(parts)


def _clip(text: str, length: int = 38) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
