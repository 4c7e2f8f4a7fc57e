from datetime import UTC, datetime

import pytest

from assay import DailyPartitions, HourlyPartitions, MultiPartitions, StaticPartitions
from assay.errors import PartitionKeyError
from assay.partitions.base import PartitionContext
from assay.partitions.selection import PartitionSelection

NOW = PartitionContext.at(datetime(2024, 6, 1, tzinfo=UTC))
DAYS = DailyPartitions(start="2024-01-01", end="2024-01-11")
HOURS = HourlyPartitions(start="2024-01-01", end="2024-01-02")
REGIONS = StaticPartitions(["eu", "us"])


@pytest.mark.parametrize(
    ("definition", "shown"),
    [
        (DAYS, "daily partitions from 2024-01-01"),
        (HOURS, "hourly partitions from 2024-01-01-00:00"),
        (MultiPartitions({"day": DAYS, "region": REGIONS}), "daily partitions from 2024-01-01"),
    ],
    ids=["daily", "hourly", "multi"],
)
@pytest.mark.parametrize(
    ("selection", "bad"),
    [
        (PartitionSelection(keys=("2024-02-30",)), "'2024-02-30' is not a real date"),
        (PartitionSelection(keys=("2024-13-01",)), "'2024-13-01' is not a real date"),
        (
            PartitionSelection(first="2024-01-01", last="2024-01-01 24:00"),
            "'2024-01-01 24:00' is not a real date and hour",
        ),
    ],
    ids=["day", "month", "hour"],
)
def test_an_impossible_date_names_itself_and_the_valid_keys(definition, shown, selection, bad):
    with pytest.raises(PartitionKeyError) as caught:
        selection.resolve(definition, NOW)
    assert bad in str(caught.value)
    assert f"; {shown}" in str(caught.value)
    assert " have keys 2024-01-01" in str(caught.value)


def test_dates_mean_nothing_to_static_partitions_so_they_are_just_not_keys():
    with pytest.raises(PartitionKeyError, match="'2024-02-30' is not in static partitions"):
        PartitionSelection(keys=("2024-02-30",)).resolve(REGIONS, NOW)


def test_a_static_key_shaped_like_an_impossible_date_is_still_a_key():
    odd = StaticPartitions(["2024-02-30", "2024-02-31"])
    subset = PartitionSelection(keys=("2024-02-31",)).resolve(odd, NOW)
    assert odd.keys(subset) == ["2024-02-31"]


def test_the_last_day_datetime_holds_is_out_of_range_not_an_overflow():
    with pytest.raises(PartitionKeyError, match="'9999-12-31' is not in daily partitions"):
        PartitionSelection(first="2024-01-01", last="9999-12-31").resolve(DAYS, NOW)
