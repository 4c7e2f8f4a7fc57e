import itertools
import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.web.bars import STATUS_NAMES, Segment, bar_svg, counts, segments

SVG = "{http://www.w3.org/2000/svg}"
FRESH, STALE, MISSING, FAILED, RUNNING, WAITING = range(6)
WORST_FIRST = ["failed", "running", "missing", "stale", "waiting", "fresh"]
START = date(2024, 1, 1)


def day_range(first: int, last: int) -> str:
    return f"{START + timedelta(first)}..{START + timedelta(last)}"


def index_range(first: int, last: int) -> str:
    return f"{first}..{last}"


def rects(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}rect"))


def drawn(svg: str) -> list[tuple[int, int, str, str]]:
    """(first, last, status, what the tooltip says after the count) per rect, for bars
    drawn with `index_range` labels."""
    found = []
    for rect in rects(svg):
        title = rect.findtext(f"{SVG}title") or ""
        first, last, count, says = re.fullmatch(
            r"(\d+)\.\.(\d+) \(([\d,]+)\): (.*)", title
        ).groups()
        assert int(count.replace(",", "")) == int(last) - int(first) + 1
        found.append(
            (int(first), int(last), rect.get("class", "").removeprefix("seg status-"), says)
        )
    return found


def test_names_are_indexed_by_code():
    assert STATUS_NAMES == ("fresh", "stale", "missing", "failed", "running", "waiting")


def test_segments_are_the_runs_of_equal_status():
    codes = np.array([0, 0, 3, 1, 1, 1, 0], dtype=np.int8)
    assert segments(codes) == [
        Segment(0, 1, "fresh"),
        Segment(2, 2, "failed"),
        Segment(3, 5, "stale"),
        Segment(6, 6, "fresh"),
    ]
    assert segments(np.array([], dtype=np.int8)) == []


@given(st.lists(st.integers(0, len(STATUS_NAMES) - 1), max_size=300))
def test_expanding_the_segments_gives_back_the_codes(values):
    codes = np.array(values, dtype=np.int8)
    found = segments(codes)
    expanded = [STATUS_NAMES.index(s.status) for s in found for _ in range(s.last - s.first + 1)]
    assert expanded == values
    assert all(a.last + 1 == b.first and a.status != b.status for a, b in itertools.pairwise(found))


def test_counts_leave_out_the_statuses_nobody_has():
    codes = np.array([0, 0, 3, 5, 0], dtype=np.int8)
    assert counts(codes) == {"fresh": 3, "failed": 1, "waiting": 1}
    assert counts(np.array([], dtype=np.int8)) == {}


@pytest.mark.parametrize(
    "codes",
    [np.array([0, 6], dtype=np.int8), np.array([-1], dtype=np.int8), np.zeros((2, 2), np.int8)],
    ids=["too-high", "negative", "2-d"],
)
def test_codes_that_name_no_status_are_refused(codes):
    with pytest.raises(ValueError, match="status codes must be"):
        segments(codes)
    with pytest.raises(ValueError, match="status codes must be"):
        bar_svg(codes, labels=index_range)


def test_wide_ranges_are_drawn_as_they_are_with_their_keys_count_and_status():
    codes = np.zeros(366, dtype=np.int8)
    codes[91:182] = STALE
    svg = bar_svg(codes, labels=day_range, width=900, height=22)
    titles = [rect.findtext(f"{SVG}title") for rect in rects(svg)]
    assert titles == [
        "2024-01-01..2024-03-31 (91): fresh",
        "2024-04-01..2024-06-30 (91): stale",
        "2024-07-01..2024-12-31 (184): fresh",
    ]
    root = ET.fromstring(svg)
    assert root.get("viewBox") == "0 0 900 22"
    assert root.get("aria-label") == "366 partitions: 91 stale, 275 fresh"
    widths = [float(rect.get("width", "")) for rect in rects(svg)]
    assert sum(widths) == pytest.approx(900, abs=0.2)
    assert [rect.get("class") for rect in rects(svg)] == [
        "seg status-fresh",
        "seg status-stale",
        "seg status-fresh",
    ]


def test_one_failed_partition_among_3650_shows_in_its_bucket():
    codes = np.zeros(3650, dtype=np.int8)
    codes[1234] = FAILED
    svg = bar_svg(codes, labels=index_range, width=900)
    found = drawn(svg)
    (failed,) = [shape for shape in found if shape[2] == "failed"]
    first, last, _, says = failed
    assert first <= 1234 <= last
    assert says == f"1 failed, {last - first:,} fresh"
    (rect,) = [r for r in rects(svg) if r.get("class") == "seg status-failed"]
    assert float(rect.get("width", "")) >= 2
    assert [shape[2] for shape in found] == ["fresh", "failed", "fresh"]  # buckets merged
    assert found[0][3] == "fresh"  # a bucket of one status says just that
    assert ET.fromstring(svg).get("aria-label") == "3,650 partitions: 1 failed, 3,649 fresh"


def test_alternating_statuses_merge_into_few_buckets_of_the_worst():
    codes = np.tile(np.array([FRESH, STALE], dtype=np.int8), 1825)
    codes[3000] = RUNNING
    svg = bar_svg(codes, labels=index_range, width=900)
    found = drawn(svg)
    assert len(found) == 3
    assert [shape[2] for shape in found] == ["stale", "running", "stale"]
    assert found[0][0] == 0
    assert found[-1][1] == 3649
    first, last, _, says = found[1]
    held = codes[first : last + 1]
    assert says == f"1 running, {(held == STALE).sum()} stale, {(held == FRESH).sum()} fresh"
    assert last - first + 1 in (8, 9)  # 3,650 partitions in 450 buckets


@given(
    st.lists(st.integers(0, len(STATUS_NAMES) - 1), min_size=1, max_size=2_000),
    st.integers(4, 400),
)
def test_every_shape_shows_the_worst_status_of_the_partitions_it_covers(values, width):
    codes = np.array(values, dtype=np.int8)
    found = drawn(bar_svg(codes, labels=index_range, width=width))
    assert found[0][0] == 0
    assert found[-1][1] == len(values) - 1
    assert all(a[1] + 1 == b[0] and a[2] != b[2] for a, b in itertools.pairwise(found))
    assert len(found) <= max(width // 2, 1)
    for first, last, status, _ in found:
        held = {STATUS_NAMES[code] for code in values[first : last + 1]}
        assert status == min(held, key=WORST_FIRST.index)


def test_links_wrap_each_shape_and_everything_is_escaped():
    codes = np.array([FRESH] * 10 + [MISSING] * 10, dtype=np.int8)
    svg = bar_svg(
        codes,
        labels=lambda first, last: f'<&">{first}',
        href=lambda first, last: f"/p?from={first}&to={last}",
    )
    root = ET.fromstring(svg)
    links = root.findall(f"{SVG}a")
    assert [link.get("href") for link in links] == ["/p?from=0&to=9", "/p?from=10&to=19"]
    assert [link.findtext(f"{SVG}rect/{SVG}title") for link in links] == [
        '<&">0 (10): fresh',
        '<&">10 (10): missing',
    ]
    assert root.get("aria-label") == "20 partitions: 10 missing, 10 fresh"


def test_no_partitions_draw_an_empty_bar():
    svg = bar_svg(np.array([], dtype=np.int8), labels=index_range)
    assert rects(svg) == []
    assert ET.fromstring(svg).get("aria-label") == "no partitions"


def test_styles_come_from_classes_only():
    codes = np.arange(6, dtype=np.int8).repeat(100)
    for element in ET.fromstring(bar_svg(codes, labels=index_range)).iter():
        assert not {"fill", "stroke", "style", "color"} & set(element.attrib)
