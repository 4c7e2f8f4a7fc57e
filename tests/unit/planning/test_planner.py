"""The planner on stored state given as arrays (no DuckDB, no run): each reason, each
edge shape, early cut-off, and a million asset partitions."""

from datetime import UTC, datetime

import polars as pl

from assay import (
    AssetIn,
    DailyPartitions,
    Definitions,
    StaticPartitions,
    TimeWindowMapping,
    asset,
    source_asset,
)
from assay.partitions.base import PartitionContext
from assay.partitions.selection import PartitionSelection
from assay.planning.plan import build_plan
from tests.unit.planning.fake_state import FakeState

CONTEXT = PartitionContext.at(datetime(2024, 2, 1, tzinfo=UTC))
DAYS = DailyPartitions(start="2024-01-01", end="2024-01-08")
KEYS = DAYS.keys(context=CONTEXT)
WEEK = "2024-01-01..2024-01-07 (7)"


@source_asset(partitions=DAYS)
def feed() -> dict[str, str]:
    return {}


@asset(partitions=DAYS, code_version="1")
def root() -> pl.DataFrame:
    return pl.DataFrame()


@asset(partitions=DAYS)
def left(root: pl.DataFrame) -> pl.DataFrame:
    return root


@asset(partitions=DAYS, ins={"root": AssetIn(partition_mapping=TimeWindowMapping(start_offset=-2))})
def rolling(root: pl.DataFrame) -> pl.DataFrame:
    return root


@asset(partitions=DAYS, deps=[feed])
def fed() -> pl.DataFrame:
    return pl.DataFrame()


@asset
def total(left: pl.DataFrame) -> pl.DataFrame:
    return left


@asset(partitions=StaticPartitions(["eu", "us"]))
def regional() -> pl.DataFrame:
    return pl.DataFrame()


GRAPH = Definitions(assets=[feed, root, left, rolling, fed, total, regional]).graph


def fresh() -> FakeState:
    """Everything materialized in order, on the state's clock: nothing is stale."""
    state = FakeState()
    state.store("feed", KEYS, started=5)
    state.store("root", KEYS, started=10)
    for name in ("left", "rolling", "fed"):
        state.store(name, KEYS, started=20)
    state.store("total", [""], started=30)
    state.store("regional", ["eu", "us"], started=10)
    return state


def plan(state, selection=None, **chosen):
    """{asset: (its planned partitions folded, {reason kinds})}."""
    keys = GRAPH.order if selection is None else [k for k in GRAPH.order if k.name in selection]
    built = build_plan(GRAPH, keys, state, PartitionSelection(**chosen), CONTEXT)
    return {
        str(step.key): (
            None if step.partitions is None else step.definition.fold(step.partitions),
            {reason.kind.value for reason in step.reasons},
        )
        for step in built.steps
    }


def test_nothing_stored_is_missing_everywhere():
    found = plan(FakeState())
    assert found["root"] == (WEEK, {"missing"})
    assert found["total"] == (None, {"missing", "upstream stale"})
    assert "feed" not in found  # sources are observed, not materialized


def test_what_was_materialized_in_order_is_fresh():
    assert plan(fresh()) == {}


def test_a_code_change_is_stale_with_everything_downstream_and_no_cut_off():
    state = fresh()
    state.store("root", KEYS, started=10, code="0")
    found = plan(state)
    assert found["root"] == (WEEK, {"code changed"})
    assert found["left"] == (WEEK, {"upstream stale"})
    assert found["rolling"] == (WEEK, {"upstream stale"})
    assert found["total"] == (None, {"upstream stale"})
    assert "fed" not in found


def test_a_dependency_added_since_is_a_reason():
    state = fresh()
    state.store("left", KEYS, started=20, signature="")
    assert plan(state)["left"] == (WEEK, {"dependencies changed"})


def test_one_changed_partition_makes_exactly_its_readers_stale_through_each_mapping():
    state = fresh()
    changed = [10.0] * 7
    changed[2] = 25.0  # root[2024-01-03] got new data after its readers read it
    state.store("root", KEYS, started=[10.0, 10, 24, 10, 10, 10, 10], changed=changed)
    found = plan(state)
    assert found["left"] == ("2024-01-03", {"input changed"})
    assert found["rolling"] == ("2024-01-03..2024-01-05 (3)", {"input changed"})
    assert found["total"] == (None, {"upstream stale"})
    assert "root" not in found


def test_early_cut_off_a_rerun_with_the_same_data_changes_nothing():
    state = fresh()
    # re-materialized after its readers, the same data: its data last changed long before
    state.store("root", KEYS, started=50, changed=10)
    assert plan(state) == {}


def test_a_source_observed_with_a_new_version_makes_its_readers_stale():
    state = fresh()
    state.store("feed", KEYS, started=5, changed=[5.0, 5, 5, 5, 5, 5, 40])
    assert plan(state)["fed"] == ("2024-01-07", {"source changed"})


def test_an_unpartitioned_reader_of_all_partitions_sees_any_change():
    state = fresh()
    state.store("left", KEYS, started=20, changed=[20.0, 20, 20, 20, 20, 20, 35])
    assert plan(state)["total"] == (None, {"input changed"})


def test_selections_and_partitions_narrow_the_plan_but_staleness_stays_transitive():
    state = fresh()
    state.store("root", KEYS, started=10, code="0")
    assert set(plan(state, {"left"})) == {"left"}
    narrowed = plan(state, {"left"}, keys=("2024-01-02",))
    assert narrowed == {"left": ("2024-01-02", {"upstream stale"})}


def test_stored_partitions_outside_the_definition_are_ignored():
    state = fresh()
    state.store("regional", ["eu", "us", "apac"], started=10)
    assert "regional" not in plan(state)


def test_a_million_asset_partitions_plan_as_whole_arrays():
    many = DailyPartitions(start="1000-01-01")
    context = PartitionContext.at(datetime(3740, 1, 1, tzinfo=UTC))

    @asset(partitions=many, name="big_root")
    def big_root() -> pl.DataFrame:
        return pl.DataFrame()

    @asset(partitions=many, name="big_leaf")
    def big_leaf(big_root: pl.DataFrame) -> pl.DataFrame:
        return big_root

    graph = Definitions(assets=[big_root, big_leaf]).graph
    keys = many.keys(context=context)
    assert len(keys) > 1_000_000
    state = FakeState()
    state.store("big_root", keys, started=1, changed=1)
    state.store("big_leaf", keys[:-10], started=2)
    built = build_plan(graph, graph.order, state, PartitionSelection(), context)
    (step,) = built.steps
    assert str(step.key) == "big_leaf"
    assert step.count == 10
