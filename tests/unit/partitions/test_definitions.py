from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay import (
    DailyPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    MultiPartitions,
    StaticPartitions,
    WeeklyPartitions,
)
from assay.errors import DefinitionError, PartitionKeyError
from assay.partitions.base import PartitionContext
from assay.partitions.selection import PartitionSelection

NOW = PartitionContext.at(datetime(2024, 3, 10, 15, 30, tzinfo=UTC))


def test_static_keys_and_bad_key_names_the_valid_keys():
    regions = StaticPartitions(["eu", "us", "apac"])
    assert regions.keys() == ["eu", "us", "apac"]
    assert regions.index("us") == 1
    with pytest.raises(
        PartitionKeyError, match=r"'mars' is not in static.*valid keys are eu, us, apac"
    ):
        regions.index("mars")


@pytest.mark.parametrize(
    ("keys", "hint"),
    [
        ([], "at least one key"),
        (["a", "a"], "duplicate keys: a"),
        (["a/b"], "'/'"),
        ([".."], "'..'"),
        (["ok", "", "fine"], "cannot be empty"),
        (["ok", "tab\there"], "'tab\\\\there'"),
        (["ok", 3], "invalid partition key 3"),
        (["a", ".", "b"], "'.'"),
    ],
    ids=["empty", "duplicate", "slash", "dotdot", "empty-key", "control", "not-str", "dot"],
)
def test_static_definition_errors(keys, hint):
    with pytest.raises(DefinitionError, match=hint):
        StaticPartitions(keys)


def test_daily_ends_with_the_last_complete_day_unless_the_open_one_is_asked_for():
    daily = DailyPartitions(start="2024-03-01")
    assert daily.size(NOW) == 9  # 03-01 .. 03-09; 03-10 is still open
    assert daily.keys(context=NOW)[-1] == "2024-03-09"
    assert DailyPartitions(start="2024-03-01", include_open_window=True).size(NOW) == 10
    assert DailyPartitions(start="2024-03-01", end="2024-03-05").size(NOW) == 4


def test_timezone_decides_where_days_begin():
    tokyo = DailyPartitions(start="2024-03-01", timezone="Asia/Tokyo")
    # 15:30 UTC is 00:30 on 03-11 in Tokyo: 03-10 is complete there
    assert tokyo.size(NOW) == 10
    window = tokyo.time_window(0)
    assert window.start == datetime(2024, 3, 1, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert window.end - window.start == timedelta(days=1)


@pytest.mark.parametrize(
    ("definition", "keys"),
    [
        (HourlyPartitions(start="2024-03-10 12:00"), ["2024-03-10-12:00", "2024-03-10-13:00"]),
        (WeeklyPartitions(start="2024-01-01"), ["2024-01-01", "2024-01-08"]),
        (MonthlyPartitions(start="2024-01-01"), ["2024-01-01", "2024-02-01"]),
        (DailyPartitions(start="2024-01-01", fmt="%Y%m%d"), ["20240101", "20240102"]),
    ],
    ids=["hourly", "weekly", "monthly", "custom-format"],
)
def test_keys_of_each_cadence(definition, keys):
    assert definition.keys(context=NOW)[:2] == keys
    assert [definition.index(k, NOW) for k in keys] == [0, 1]


def test_hourly_size_and_range_errors():
    hourly = HourlyPartitions(start="2024-03-10 12:00")
    assert hourly.size(NOW) == 3  # 12, 13, 14; 15:00-16:00 is open
    with pytest.raises(
        PartitionKeyError, match=r"valid keys are 2024-03-10-12:00..2024-03-10-14:00 \(3\)"
    ):
        hourly.index("2024-03-10-15:00", NOW)
    with pytest.raises(PartitionKeyError, match="not in hourly partitions"):
        hourly.index("2024-03-10-12:30", NOW)


def test_key_range_rejects_from_after_to():
    daily = DailyPartitions(start="2024-01-01")
    forward = PartitionSelection(first="2024-01-02", last="2024-01-05")
    assert len(forward.resolve(daily, NOW)) == 4
    with pytest.raises(
        PartitionKeyError, match="--from '2024-01-05' comes after --to '2024-01-02': swap them"
    ):
        PartitionSelection(first="2024-01-05", last="2024-01-02").resolve(daily, NOW)


@pytest.mark.parametrize(
    ("make", "hint"),
    [
        (lambda: DailyPartitions(start="2024-01-01", timezone="Mars/Olympus"), "unknown timezone"),
        (lambda: MonthlyPartitions(start="2024-01-15"), "first day of a month"),
        (lambda: DailyPartitions(start="yesterday"), "must be a date or datetime"),
        (lambda: DailyPartitions(start="2024-01-02", end="2024-01-01"), "must come after start"),
        (
            lambda: HourlyPartitions(start="2024-01-01", fmt="%Y-%m-%d"),
            "cannot tell hourly windows apart",
        ),
        (lambda: DailyPartitions(start="2024-01-01 05:00"), "must be at midnight"),
    ],
    ids=["timezone", "monthly-start", "start", "end", "fmt", "midnight"],
)
def test_time_definition_errors(make, hint):
    with pytest.raises(DefinitionError, match=hint):
        make()


def test_vectorized_indices_match_index():
    daily = DailyPartitions(start="2024-01-01")
    keys = pl.Series(["2024-01-03", "nope", "2023-12-31", "2024-03-09", "2024-03-10"])
    assert daily.indices(keys, NOW).to_list() == [2, None, None, 68, None]


def test_multi_partitions_keys_and_indices():
    multi = MultiPartitions(
        {
            "date": DailyPartitions(start="2024-01-01", end="2024-01-03"),
            "region": StaticPartitions(["eu", "us"]),
        }
    )
    assert multi.keys() == ["2024-01-01|eu", "2024-01-01|us", "2024-01-02|eu", "2024-01-02|us"]
    assert multi.index("2024-01-02|eu") == 2
    assert multi.split(3) == {"date": 1, "region": 1}
    with pytest.raises(PartitionKeyError, match=r"keys like '2024-01-01\|eu'"):
        multi.index("eu|2024-01-01")
    with pytest.raises(DefinitionError, match="exactly two dimensions"):
        MultiPartitions({"a": StaticPartitions(["x"])})


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]


@settings(max_examples=60, deadline=None)
@given(
    start=st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2030, 1, 1).date()),
    zone=st.sampled_from(ZONES),
    cadence=st.sampled_from([HourlyPartitions, DailyPartitions, WeeklyPartitions]),
    count=st.integers(min_value=1, max_value=400),
)
def test_windows_tile_time_across_dst(start, zone, cadence, count):
    definition = cadence(start=start, timezone=zone)
    previous = None
    for index in range(count):
        window = definition.time_window(index)
        assert window.start <= window.end
        if previous is not None:
            assert previous.end == window.start, (index, previous, window)
        if window.start < window.end:
            assert definition.index_at(window.start) == index
            assert definition.index_at(window.end - timedelta(microseconds=1)) == index
        assert definition._parse(definition.key(index)) == index
        previous = window


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    day=st.dates(min_value=datetime(2010, 1, 1).date(), max_value=datetime(2030, 1, 1).date()),
)
def test_a_day_holds_the_real_hours_of_that_day(zone, day):
    daily = DailyPartitions(start=day, timezone=zone)
    hourly = HourlyPartitions(start=day, timezone=zone)
    window = daily.time_window(0)
    hours = [hourly.time_window(i) for i in range(26)]
    inside = [
        h for h in hours if window.start <= h.start and h.end <= window.end and h.start < h.end
    ]
    covered = sum(((h.end - h.start) for h in inside), timedelta())
    assert covered == window.end - window.start


def test_remembered_windows_and_sizes_are_what_is_computed_and_not_pickled():
    import pickle

    berlin = DailyPartitions(start="2024-03-20", timezone="Europe/Berlin")
    twin = DailyPartitions(start="2024-03-20", timezone="Europe/Berlin")
    new_york = DailyPartitions(start="2024-03-20", timezone="America/New_York")
    for index in range(20):  # across Berlin's spring forward (2024-03-31)
        assert berlin.time_window(index) == berlin._window(index) == twin.time_window(index)
        assert new_york.time_window(index) == new_york._window(index)
        assert berlin.time_window(index).start != new_york.time_window(index).start
    short = berlin.time_window(11)  # (same-zone subtraction is wall time: in UTC)
    assert short.end.astimezone(UTC) - short.start.astimezone(UTC) == timedelta(hours=23)
    early = PartitionContext.at(datetime(2024, 4, 1, 12, tzinfo=UTC))
    late = PartitionContext.at(datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert [berlin.size(early), berlin.size(late), berlin.size(early)] == [12, 42, 12]
    copy = pickle.loads(pickle.dumps(berlin))
    assert not {"_size_at", "_lookup_cache"} & set(vars(copy))
    assert copy == berlin
    assert copy.time_window(11) == berlin.time_window(11)
