"""The planner on stored state given as arrays (no DuckDB, no run): each reason, each
edge shape, early cut-off, and a million asset partitions."""

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from assay import (
    AllPartitionsMapping,
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
from assay.planning.staleness import assess, assess_changed
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


@asset(ins={"regional": AssetIn(partition_mapping=AllPartitionsMapping())})
def all_regions(regional: pl.DataFrame) -> pl.DataFrame:
    return regional


@asset
def fed_total(fed: pl.DataFrame) -> pl.DataFrame:
    return fed


GRAPH = Definitions(
    assets=[feed, root, left, rolling, fed, total, regional, all_regions, fed_total]
).graph


def fresh() -> FakeState:
    """Everything materialized in order, on the state's clock: nothing is stale."""
    state = FakeState()
    state.store("feed", KEYS, started=5)
    state.store("root", KEYS, started=10)
    for name in ("left", "rolling", "fed"):
        state.store(name, KEYS, started=20)
    state.store("total", [""], started=30)
    state.store("regional", ["eu", "us"], started=10)
    state.store("all_regions", [""], started=20, reads={"regional": 2})
    state.store("fed_total", [""], started=30, reads={"fed": 7})
    return state


def plan(state, selection=None, verify=None, **chosen):
    """{asset: (its planned partitions folded, {reason kinds})}."""
    built = build(state, selection, verify, **chosen)
    return {
        str(step.key): (
            None if step.partitions is None else step.definition.fold(step.partitions),
            {reason.kind.value for reason in step.reasons},
        )
        for step in built.steps
    }


def build(state, selection=None, verify=None, **chosen):
    keys = GRAPH.order if selection is None else [k for k in GRAPH.order if k.name in selection]
    return build_plan(GRAPH, keys, state, PartitionSelection(**chosen), CONTEXT, verify=verify)


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


def test_reassessing_only_the_partitions_recorded_since_agrees_with_a_full_pass():
    state = fresh()
    _, cache, moved = assess_changed(GRAPH, GRAPH.order, state, CONTEXT, cache=None, changed=None)
    assert len(moved) == len(GRAPH.order)
    started, changed = [10.0] * 7, [10.0] * 7
    started[2] = changed[2] = 40.0  # root[2024-01-03] materialized again, new data, at 40
    state.store("root", KEYS, started=started, changed=changed, code="1")
    root = next(k for k in GRAPH.order if k.name == "root")
    again, _, moved = assess_changed(
        GRAPH, GRAPH.order, state, CONTEXT, cache=cache, changed={root}, since_seq=30
    )
    whole = assess(GRAPH, GRAPH.order, state, CONTEXT)
    assert {k.name for k in moved} == {"root", "left", "rolling", "total"}
    for key in GRAPH.order:
        assert again[key].stale_subset == whole[key].stale_subset, key
        assert again[key].reasons == whole[key].reasons, key
    assert list(again[root].started) == started


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


# --- what today's main calls fresh although stored data no longer matches (issue 15) -------


class FakeIO:
    """An IO manager that says which stored partitions exist."""

    def __init__(self, gone=(), *, is_local=True):
        self.gone = set(gone)
        self.is_local = is_local
        self.asked = []

    def exists(self, key, partitions):
        self.asked.append((str(key), partitions))
        return [(str(key), p) not in self.gone for p in partitions or [None]]


def removed_region():
    """`apac` was a key of regional; all_regions read all three."""
    state = fresh()
    state.store("regional", ["eu", "us", "apac"], started=10)
    state.store("all_regions", [""], started=20, reads={"regional": 3})
    return state


def read_after_removal():
    state = removed_region()
    state.store("all_regions", [""], started=20, reads={"regional": 2})
    return state


def shortened_range():
    """left had two more days (the range ended later); total read all nine."""
    state = fresh()
    state.store("left", [*KEYS, "2024-01-08", "2024-01-09"], started=20)
    state.store("total", [""], started=30, reads={"left": 9})
    return state


def day_not_landed():
    state = fresh()
    state.store("feed", KEYS[:-1], started=5)  # the last day's file never observed
    state.store("fed", KEYS[:-1], started=20)
    return state


def day_deleted():
    state = fresh()
    absent = [False] * 7
    absent[2] = True  # observed, then observed absent (its file was deleted)
    state.store("feed", KEYS, started=5, changed=[5.0, 5, 40, 5, 5, 5, 5], absent=absent)
    return state


def never_observed():
    state = fresh()
    del state.assets["feed"]
    return state


BLIND_SPOTS = {
    "a partition key removed from a static definition": (
        removed_region,
        None,
        {"all_regions": (None, {"upstream partitions removed"})},
    ),
    "its readers materialized after the removal are fresh": (read_after_removal, None, {}),
    "a time range shortened": (
        shortened_range,
        None,
        {"total": (None, {"upstream partitions removed"})},
    ),
    "stored data deleted outside assay (verified)": (
        fresh,
        FakeIO(gone={("left", "2024-01-03")}),
        {"left": ("2024-01-03", {"stored data missing"}), "total": (None, {"upstream stale"})},
    ),
    "a source partition never observed: waiting, not planned": (day_not_landed, None, {}),
    "a source partition observed absent: its readers wait": (day_deleted, None, {}),
}


@pytest.mark.parametrize(("made", "io", "expected"), BLIND_SPOTS.values(), ids=list(BLIND_SPOTS))
def test_blind_spots_of_stored_state(made, io, expected):
    from assay.planning.verify import Verification

    verify = None if io is None else Verification(io_for=lambda key: io)
    assert plan(made(), verify=verify) == expected


def test_a_removed_key_is_named():
    (step,) = build(removed_region()).steps
    assert step.describe(step.reasons[0]) == (
        "upstream regional no longer has partitions it read (apac)"
    )


def test_a_source_never_observed_at_all_is_taken_as_it_is():
    """Waiting starts with the first observation: a project that never runs `assay
    observe` plans its readers as before, instead of never running them."""
    built = build(never_observed())
    assert not built.waiting  # its readers' stored partitions stay as they are


@pytest.mark.parametrize(
    ("made", "waiting", "why"),
    [
        (day_not_landed, {"fed": "2024-01-07", "fed_total": None}, "never observed"),
        (day_deleted, {"fed": "2024-01-03", "fed_total": None}, "absent"),
    ],
    ids=["not landed", "deleted"],
)
def test_readers_of_missing_source_partitions_wait(made, waiting, why):
    built = build(made())
    folded = {str(s.key): s.definition and s.definition.fold(s.partitions) for s in built.waiting}
    assert folded == waiting
    assert not {str(s.key) for s in built.steps} & set(waiting)
    first = built.waiting[0]
    (reason,) = first.reasons
    assert first.describe(reason).startswith(f"{waiting['fed']}: waiting for source feed")
    (source,) = built.staleness[feed.key].reasons
    assert source.new == why


def test_a_changed_source_partition_with_a_missing_one_beside_it_plans_only_the_changed():
    state = day_not_landed()
    state.store("feed", KEYS[:-1], started=5, changed=[5.0, 5, 40, 5, 5, 5])
    assert plan(state) == {"fed": ("2024-01-03", {"source changed"})}


def test_verification_is_automatic_only_for_local_storage_on_small_plans(monkeypatch):
    from assay.planning import verify as verifying
    from assay.planning.verify import Verification

    gone = {("left", "2024-01-03")}
    local, remote = FakeIO(gone), FakeIO(gone, is_local=False)
    assert "left" in plan(fresh(), verify=Verification(io_for=lambda key: local))
    assert plan(fresh(), verify=Verification(io_for=lambda key: remote)) == {}
    requested = Verification(io_for=lambda key: remote, requested=True)
    assert "left" in plan(fresh(), verify=requested)
    monkeypatch.setattr(verifying, "AUTO_VERIFY_LIMIT", 10)
    big = FakeIO(gone)
    assert plan(fresh(), verify=Verification(io_for=lambda key: big)) == {}
    assert big.asked == []  # past the limit nothing is even asked
    # only partitions the plan would call fresh are asked about
    state = fresh()
    state.store("root", KEYS, started=10, code="0")
    asked = FakeIO()
    plan(state, verify=Verification(io_for=lambda key: asked, requested=True))
    assert {key for key, _ in asked.asked} == {"regional", "all_regions", "fed", "fed_total"}


def test_why_traces_a_wait_to_the_source_partition():
    from assay.planning.why import explain

    explained = explain(GRAPH, build(day_not_landed()), fed_total.key, None, {})
    assert explained["state"] == "waiting for source"
    assert explained["root_causes"] == ["feed [2024-01-07]: never observed (run `assay observe`)"]
    assert "fed [2024-01-07]: waiting for source" in explained["text"]


def test_reassessing_after_random_changes_agrees_with_a_full_pass_every_time():
    """Changes of data, code, missing and absent source partitions, in random order:
    what `assess_changed` keeps (only what moved recomputed, what lies downstream of
    a change made again from its upstreams' staleness) is what a full pass gives."""
    import random

    rng = random.Random(5)
    current = {name: {k: (10.0, 10.0) for k in KEYS} for name in ("root", "left", "rolling")}
    current["feed"] = {k: (5.0, 5.0) for k in KEYS}
    absent = dict.fromkeys(KEYS, False)
    code = "1"
    state = fresh()
    _, cache, _ = assess_changed(GRAPH, GRAPH.order, state, CONTEXT, cache=None, changed=None)
    clock = 100.0
    for _ in range(60):
        touched = rng.sample(["feed", "root", "left", "rolling"], rng.randint(1, 2))
        for name in touched:
            held = current[name]
            for key in rng.sample(KEYS, rng.randint(1, 3)):
                clock += 1
                roll = rng.random()
                if roll < 0.15 and name != "feed":
                    held.pop(key, None)  # its data deleted: missing
                elif roll < 0.5 or key not in held:
                    held[key] = (clock, clock)  # materialized again, new data
                else:
                    held[key] = (clock, held[key][1])  # again, the same data
                if name == "feed":
                    absent[key] = rng.random() < 0.2
            if name == "root" and rng.random() < 0.2:
                code = rng.choice(["0", "1"])
            keys = [k for k in KEYS if k in held]
            state.store(
                name,
                keys,
                started=[held[k][0] for k in keys],
                changed=[held[k][1] for k in keys],
                code=code if name == "root" else None,
                absent=[absent[k] for k in keys] if name == "feed" else False,
            )
        changed = {k for k in GRAPH.order if k.name in touched}
        again, cache, _ = assess_changed(
            GRAPH, GRAPH.order, state, CONTEXT, cache=cache, changed=changed
        )
        whole = assess(GRAPH, GRAPH.order, state, CONTEXT)
        for key in GRAPH.order:
            a, b = again[key], whole[key]
            assert a.reasons == b.reasons, key
            for name in ("stale", "waiting", "changed_at", "started", "input_cause"):
                x, y = getattr(a, name), getattr(b, name)
                assert (x is None and y is None) or np.array_equal(x, y, equal_nan=True), (
                    key,
                    name,
                )
