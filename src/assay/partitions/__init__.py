"""Partitions: how an asset's data is split (static keys, time windows, keys added at run
time, two dimensions)."""

from assay.partitions.base import PartitionContext, PartitionsDefinition
from assay.partitions.dynamic import DynamicPartitions, DynamicPartitionsRequest
from assay.partitions.multi import MultiPartitions
from assay.partitions.static import StaticPartitions
from assay.partitions.subset import PartitionSubset
from assay.partitions.time_window import (
    DailyPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    TimeWindow,
    TimeWindowPartitions,
    WeeklyPartitions,
)

__all__ = [
    "DailyPartitions",
    "DynamicPartitions",
    "DynamicPartitionsRequest",
    "HourlyPartitions",
    "MonthlyPartitions",
    "MultiPartitions",
    "PartitionContext",
    "PartitionSubset",
    "PartitionsDefinition",
    "StaticPartitions",
    "TimeWindow",
    "TimeWindowPartitions",
    "WeeklyPartitions",
]
