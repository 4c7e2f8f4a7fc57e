import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay import (
    AllPartitionsMapping,
    DailyPartitions,
    HourlyPartitions,
    IdentityMapping,
    LastPartitionMapping,
    MonthlyPartitions,
    MultiPartitions,
    StaticMapping,
    StaticPartitions,
    TimeWindowMapping,
)
from assay.errors import DefinitionError
from assay.partitions.mapping import default_mapping, reduce_max

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-11")
LATER_DAYS = DailyPartitions(start="2024-01-05", end="2024-01-11")
HOURS = HourlyPartitions(start="2024-01-01", end="2024-01-03")
TWO_DAYS = DailyPartitions(start="2024-01-01", end="2024-01-03")
REGIONS = StaticPartitions(["eu", "us"])
COUNTRIES = StaticPartitions(["de", "fr", "us"])
MULTI = MultiPartitions({"date": TWO_DAYS, "region": REGIONS})


def reads(mapping, up, down, index):
    return list(mapping.upstream_for(index, up, down, None))


def reduced(mapping, up, down, values):
    """reduce_max on a list with None for missing values, back to a list with None."""
    n_down = 1 if down is None else down.size()
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    out = reduce_max(mapping.edges(up, down, None), array, n_down)
    return [None if np.isnan(v) else float(v) for v in out]


@pytest.mark.parametrize(
    ("up", "down", "expected"),
    [
        (None, None, IdentityMapping()),
        (DAYS, None, AllPartitionsMapping()),
        (None, DAYS, AllPartitionsMapping()),
        (DAYS, DAYS, IdentityMapping()),
        (DAYS, LATER_DAYS, IdentityMapping()),
        (HOURS, TWO_DAYS, TimeWindowMapping()),
    ],
    ids=[
        "unpartitioned",
        "to-unpartitioned",
        "from-unpartitioned",
        "same",
        "shifted",
        "granularity",
    ],
)
def test_default_mappings(up, down, expected):
    assert default_mapping(up, down) == expected


def test_identity_between_shifted_starts_matches_keys():
    assert reads(IdentityMapping(), DAYS, LATER_DAYS, 0) == [4]  # 2024-01-05
    values = [float(i) for i in range(10)]
    assert reduced(IdentityMapping(), DAYS, LATER_DAYS, values) == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]


def test_rolling_window_and_lag_are_clipped_at_the_edges():
    week = TimeWindowMapping(start_offset=-6)
    assert reads(week, DAYS, DAYS, 0) == [0]
    assert reads(week, DAYS, DAYS, 9) == [3, 4, 5, 6, 7, 8, 9]
    values = [1.0, None, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert reduced(week, DAYS, DAYS, values) == [1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 0.0]
    yesterday = TimeWindowMapping(start_offset=-1, end_offset=-1)
    assert reads(yesterday, DAYS, DAYS, 0) == []
    assert reduced(yesterday, DAYS, DAYS, [float(i) for i in range(10)])[:3] == [None, 0.0, 1.0]


def test_a_day_reads_its_hours_and_an_hour_reads_its_day():
    assert reads(TimeWindowMapping(), HOURS, TWO_DAYS, 1) == list(range(24, 48))
    assert reduced(TimeWindowMapping(), HOURS, TWO_DAYS, [float(i) for i in range(48)]) == [
        23.0,
        47.0,
    ]
    assert reads(TimeWindowMapping(), TWO_DAYS, HOURS, 30) == [1]


def test_a_month_reads_its_days():
    months = MonthlyPartitions(start="2024-01-01", end="2024-03-01")
    days = DailyPartitions(start="2024-01-01", end="2024-03-01")
    assert len(reads(default_mapping(days, months), days, months, 1)) == 29  # 2024 is a leap year


def test_all_and_last():
    values = [1.0, 5.0, 2.0]
    three = DailyPartitions(start="2024-01-01", end="2024-01-04")
    assert reduced(AllPartitionsMapping(), three, None, values) == [5.0]
    assert reduced(LastPartitionMapping(), three, None, values) == [2.0]
    assert reads(LastPartitionMapping(), three, DAYS, 4) == [2]


def test_static_mapping_and_its_errors():
    mapping = StaticMapping({"de": "eu", "fr": "eu", "us": "us"})
    mapping.check(COUNTRIES, REGIONS)
    assert reads(mapping, COUNTRIES, REGIONS, 0) == [0, 1]
    assert reduced(mapping, COUNTRIES, REGIONS, [3.0, 7.0, 1.0]) == [7.0, 1.0]
    with pytest.raises(DefinitionError, match="upstream key 'xx'"):
        StaticMapping({"xx": "eu"}).check(COUNTRIES, REGIONS)
    with pytest.raises(DefinitionError, match="joins static partitions"):
        mapping.check(DAYS, REGIONS)


def test_multi_to_and_from_a_dimension():
    multi_values = [1.0, 2.0, 3.0, 4.0]  # 01|eu, 01|us, 02|eu, 02|us
    assert reduced(default_mapping(MULTI, TWO_DAYS), MULTI, TWO_DAYS, multi_values) == [2.0, 4.0]
    assert reduced(default_mapping(MULTI, REGIONS), MULTI, REGIONS, multi_values) == [3.0, 4.0]
    assert reduced(default_mapping(TWO_DAYS, MULTI), TWO_DAYS, MULTI, [1.0, 2.0]) == [
        1.0,
        1.0,
        2.0,
        2.0,
    ]


@pytest.mark.parametrize(
    ("up", "down", "hint"),
    [
        (REGIONS, DAYS, "no default partition mapping from static"),
        (REGIONS, COUNTRIES, "give the input AssetIn\\(partition_mapping=...\\)"),
    ],
    ids=["static-to-time", "static-to-static"],
)
def test_incompatible_definitions_need_an_explicit_mapping(up, down, hint):
    with pytest.raises(DefinitionError, match=hint):
        default_mapping(up, down)


def test_time_window_mapping_checks_its_arguments():
    with pytest.raises(DefinitionError, match="start_offset 1 is after end_offset 0"):
        TimeWindowMapping(start_offset=1)
    with pytest.raises(DefinitionError, match="joins time partitions"):
        TimeWindowMapping().check(REGIONS, DAYS)


@given(
    st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=10, max_size=10),
    st.integers(-5, 0),
    st.integers(0, 3),
)
def test_vectorized_reduction_agrees_with_per_partition_reads(values, low, extra):
    mapping = TimeWindowMapping(start_offset=low, end_offset=low + extra)
    vector = reduced(mapping, DAYS, DAYS, values)
    for index in range(10):
        read = [values[u] for u in reads(mapping, DAYS, DAYS, index) if values[u] is not None]
        assert vector[index] == (max(read) if read else None)


@given(st.integers(0, 47))
def test_mapping_down_and_back_up_contains_the_partition(hour):
    day = reads(TimeWindowMapping(), HOURS, TWO_DAYS, 0)  # hours of day 0
    days_of_hour = reads(TimeWindowMapping(), TWO_DAYS, HOURS, hour)
    assert len(days_of_hour) == 1
    assert (hour in day) == (days_of_hour == [0])
