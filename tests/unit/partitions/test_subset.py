from hypothesis import given
from hypothesis import strategies as st

from assay import DailyPartitions
from assay.partitions import PartitionSubset

indices = st.sets(st.integers(min_value=0, max_value=200), max_size=80)


@given(indices, indices)
def test_set_operations_match_python_sets(a, b):
    sa, sb = PartitionSubset.from_indices(a), PartitionSubset.from_indices(b)
    assert set(sa | sb) == a | b
    assert set(sa & sb) == a & b
    assert set(sa - sb) == a - b
    assert len(sa) == len(a)
    for start, stop in (sa | sb).ranges:
        assert start < stop
    assert all(x[1] < y[0] for x, y in zip(sa.ranges, sa.ranges[1:], strict=False))


@given(indices)
def test_masks_round_trip(a):
    subset = PartitionSubset.from_indices(a)
    assert PartitionSubset.from_mask(subset.to_mask(201)) == subset


def test_fold_writes_contiguous_keys_as_ranges():
    daily = DailyPartitions(start="2024-01-01", end="2024-12-31")
    subset = PartitionSubset.from_range(0, 91) | PartitionSubset.from_indices([120])
    assert daily.fold(subset) == "2024-01-01..2024-03-31 (91), 2024-04-30"
