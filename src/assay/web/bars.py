"""Partition health bars: an asset's partitions as coloured ranges in one SVG strip.

A bar is drawn from runs of equal status (`segments`), never one shape per
partition. When a run would be thinner than `_MIN_PX`, the partitions are
bucketed and each bucket takes the worst status it holds, so one failed
partition among thousands still shows. Colours come from the app's stylesheet
through the `status-{name}` classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

STATUS_NAMES: tuple[str, ...] = ("fresh", "stale", "missing", "failed", "running", "waiting")
"""The status of code `i` is `STATUS_NAMES[i]`."""

_SEVERITY = np.array([0, 2, 3, 5, 4, 1], dtype=np.int8)
"""Per code, how bad it is: failed > running > missing > stale > waiting > fresh."""
_WORST_FIRST: tuple[int, ...] = tuple(int(code) for code in np.argsort(-_SEVERITY))
_MIN_PX = 2.0
"""The thinnest range drawn as it is; thinner ones are bucketed."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of partitions of one status, `first` to `last` (indexes, inclusive)."""

    first: int
    last: int
    status: str


def _checked(codes: np.ndarray) -> np.ndarray:
    """`codes` as a 1-d integer array of valid status codes (raises ValueError if not)."""
    array = np.asarray(codes)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"status codes must be a 1-d integer array, got {array.dtype} {array.shape}"
        )
    if array.size and (int(array.min()) < 0 or int(array.max()) >= len(STATUS_NAMES)):
        raise ValueError(
            f"status codes must be 0..{len(STATUS_NAMES) - 1} (STATUS_NAMES), "
            f"got {int(array.min())}..{int(array.max())}"
        )
    return array


def _runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first index of each run of equal codes, and one past its last."""
    starts = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1))
    ends = np.concatenate((starts[1:], [codes.size]))
    return starts, ends


def segments(codes: np.ndarray) -> list[Segment]:
    """The runs of equal status in `codes` (an int8 array, one code per partition), in order.

    >>> segments(np.array([0, 0, 3, 0], dtype=np.int8))  # doctest: +NORMALIZE_WHITESPACE
    [Segment(first=0, last=1, status='fresh'), Segment(first=2, last=2, status='failed'),
     Segment(first=3, last=3, status='fresh')]
    """
    codes = _checked(codes)
    if not codes.size:
        return []
    starts, ends = _runs(codes)
    return [
        Segment(first, end - 1, STATUS_NAMES[code])
        for first, end, code in zip(
            starts.tolist(), ends.tolist(), codes[starts].tolist(), strict=True
        )
    ]


def counts(codes: np.ndarray) -> dict[str, int]:
    """How many partitions have each status, in `STATUS_NAMES` order, zeros left out."""
    tally = np.bincount(_checked(codes), minlength=len(STATUS_NAMES)).tolist()
    return {name: count for name, count in zip(STATUS_NAMES, tally, strict=True) if count}


def _summary(tally: list[int]) -> str:
    """`3 failed, 90 fresh`: the non-zero counts of a per-code tally, worst status first."""
    return ", ".join(
        f"{tally[code]:,} {STATUS_NAMES[code]}" for code in _WORST_FIRST if tally[code]
    )


def _num(value: float) -> str:
    """`value` rounded to 0.1, without a trailing `.0`."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def bar_svg(
    codes: np.ndarray,
    *,
    labels: Callable[[int, int], str],
    width: int = 900,
    height: int = 22,
    href: Callable[[int, int], str] | None = None,
) -> str:
    """An `<svg>` strip of the partitions' statuses, a `<rect class="seg status-NAME">` per range.

    Args:
        codes: one status code per partition, in partition order (an int8 array).
        labels: the text of the keys `first..last` (indexes, inclusive), for tooltips.
        width: the drawing's width in px; a range drawn as it is gets at least 2 px.
            When some range would be thinner, the partitions go into at most
            `width // 2` buckets, each drawn in the worst status it holds
            (failed > running > missing > stale > waiting > fresh), adjacent
            buckets of one status merged; the tooltip counts each status inside.
        height: the drawing's height in px.
        href: the link of the partitions `first..last`; each rect is wrapped in `<a>`.

    Returns:
        The SVG markup, every text escaped, with an `aria-label` counting each status.
    """
    codes = _checked(codes)
    total = int(codes.size)
    tally = np.bincount(codes, minlength=len(STATUS_NAMES)).tolist()
    aria = f"{total:,} partitions: {_summary(tally)}" if total else "no partitions"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="partition-bar" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'preserveAspectRatio="none" role="img" aria-label="{escape(aria)}">'
    ]
    if total:
        starts, ends = _runs(codes)
        if int(np.min(ends - starts)) * width >= _MIN_PX * total:
            ranges = zip(starts.tolist(), ends.tolist(), codes[starts].tolist(), strict=True)
            shapes = [(first, end, code, STATUS_NAMES[code]) for first, end, code in ranges]
        else:
            shapes = _bucketed(codes, max(1, width // 2))
        for first, end, code, says in shapes:
            left = round(first * width / total, 1)
            right = round(end * width / total, 1)
            title = f"{labels(first, end - 1)} ({end - first:,}): {says}"
            rect = (
                f'<rect class="seg status-{STATUS_NAMES[code]}" x="{_num(left)}" y="0" '
                f'width="{_num(right - left)}" height="{height}">'
                f"<title>{escape(title)}</title></rect>"
            )
            if href is not None:
                rect = f'<a href="{escape(href(first, end - 1))}">{rect}</a>'
            parts.append(rect)
    parts.append("</svg>")
    return "".join(parts)


def _bucketed(codes: np.ndarray, buckets: int) -> list[tuple[int, int, int, str]]:
    """`codes` cut into `buckets` nearly equal buckets, each coloured by its worst status,
    adjacent ones of one status merged: (first, one past last, code, what it holds)."""
    total = codes.size
    bucket_of = np.arange(total, dtype=np.int64) * buckets // total
    width = len(STATUS_NAMES)
    held = np.bincount(bucket_of * width + codes, minlength=buckets * width).reshape(buckets, width)
    worst = np.argmax(np.where(held > 0, _SEVERITY + 1, 0), axis=1)
    bounds = np.searchsorted(bucket_of, np.arange(buckets + 1))
    group_starts, group_ends = _runs(worst)
    group_held = np.add.reduceat(held, group_starts, axis=0).tolist()
    return [
        (
            first,
            end,
            code,
            STATUS_NAMES[code] if tally[code] == end - first else _summary(tally),
        )
        for first, end, code, tally in zip(
            bounds[group_starts].tolist(),
            bounds[group_ends].tolist(),
            worst[group_starts].tolist(),
            group_held,
            strict=True,
        )
    ]
