"""Declarative automation's conditions, evaluated over whole arrays, against a
brute-force oracle that walks every asset partition and every partition it reads
(`mapping.upstream_for`, not the vectorized edges), on random graphs, stored
states, attempts, runs in progress and baselines."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import (
    AssetIn,
    Auto,
    DailyPartitions,
    Definitions,
    Freshness,
    TimeWindowMapping,
    asset,
)
from assay.conditions import (
    All,
    Any_,
    AutomationCondition,
    Capped,
    DepsFailed,
    DepsInProgress,
    DepsMissing,
    Failed,
    InProgress,
    Missing,
    Not,
    Stale,
    Window,
)
from assay.errors import DefinitionError
from assay.keys import AssetKey
from assay.partitions.base import PartitionContext
from assay.planning.conditions import Attempts, Baseline, Facts, evaluate_conditions
from assay.planning.staleness import StaleKind, assess
from tests.unit.planning.fake_state import FakeState

NOW = datetime(2024, 1, 20, 12, tzinfo=UTC)
CONTEXT = PartitionContext.at(NOW)
DAYS = DailyPartitions(start="2024-01-01", end="2024-01-08")
US = 1_000_000.0
T0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp() * US  # instants are T0 + small numbers
REASONS = ["missing", "code changed", "dependencies changed", "input changed", "source changed"]


# --- random graphs -----------------------------------------------------------------------


@st.composite
def graphs(draw: st.DrawFn) -> Definitions:
    """2 to 6 assets, daily or not, each reading up to two earlier ones (daily edges
    through the identity or a two-day window)."""
    count = draw(st.integers(2, 6))
    daily = [draw(st.booleans()) for _ in range(count)]
    specs = []
    for i in range(count):
        ups = draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else []
        ins = {}
        for u in ups:
            if daily[u] and daily[i] and draw(st.booleans()):
                ins[f"a{u}"] = AssetIn(partition_mapping=TimeWindowMapping(start_offset=-1))
        params = ", ".join(f"a{u}: pl.DataFrame" for u in ups)
        scope: dict[str, object] = {"pl": pl}
        exec(f"def a{i}({params}) -> pl.DataFrame:\n    return pl.DataFrame()", scope)
        specs.append(asset(partitions=DAYS if daily[i] else None, ins=ins)(scope[f"a{i}"]))
    return Definitions(assets=specs)


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> AutomationCondition:
    leaves = st.sampled_from(
        [
            "stale",
            "missing",
            "in_progress",
            "deps_in_progress",
            "deps_missing",
            "failed",
            "deps_failed",
            "window",
        ]
    )
    if depth >= 2 or draw(st.integers(0, 2)) == 0:
        leaf = draw(leaves)
        if leaf == "stale":
            chosen = draw(st.lists(st.sampled_from(REASONS), min_size=1, unique=True))
            return Stale(frozenset(chosen))
        if leaf == "window":
            return Window(latest=draw(st.integers(1, 8)))
        return {
            "missing": Missing(),
            "in_progress": InProgress(),
            "deps_in_progress": DepsInProgress(),
            "deps_missing": DepsMissing(),
            "failed": Failed(),
            "deps_failed": DepsFailed(),
        }[leaf]
    kind = draw(st.sampled_from(["and", "or", "not"]))
    if kind == "not":
        return ~draw(conditions(depth + 1))
    a, b = draw(conditions(depth + 1)), draw(conditions(depth + 1))
    return (a & b) if kind == "and" else (a | b)


def _instant(draw: st.DrawFn) -> float:
    return T0 + draw(st.integers(0, 20))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Definitions, FakeState, Facts, dict]:
    definitions = draw(graphs())
    graph = definitions.graph
    state = FakeState()
    for key in graph.order:
        definition = graph.specs[key].partitions
        keys = [""] if definition is None else definition.keys(context=CONTEXT)
        stored = [k for k in keys if draw(st.booleans())]
        if not stored:
            continue
        started = np.array([_instant(draw) for _ in stored])
        changed = np.array([s - draw(st.integers(0, 3)) for s in started])
        old_code = draw(st.booleans()) and draw(st.booleans())
        state.store(
            str(key), stored, started=started, changed=changed, code="old" if old_code else None
        )
    staleness = assess(graph, graph.order, state, CONTEXT)
    n_of = {key: staleness[key].size for key in graph.order}

    def maybe_times(n: int) -> np.ndarray:
        return np.array([_instant(draw) if draw(st.booleans()) else np.nan for _ in range(n)])

    def flags(n: int) -> np.ndarray:
        return np.array([draw(st.integers(0, 3)) == 0 for _ in range(n)], dtype=bool)

    attempts = {
        k: Attempts(attempted=maybe_times(n), failed=flags(n), blocked=flags(n))
        for k, n in n_of.items()
    }
    progress = {k: flags(n) for k, n in n_of.items() if draw(st.booleans())}
    requested = {k: maybe_times(n) for k, n in n_of.items() if draw(st.booleans())}
    baselines = {
        k: Baseline(
            since=draw(st.sampled_from([0.0, T0 + 3 * 86_400 * US, T0 + 30 * 86_400 * US])),
            since_seq=_instant(draw) if draw(st.booleans()) else 0.0,
            code_since=_instant(draw),
            had_history=draw(st.booleans()),
        )
        for k in n_of
    }
    facts = Facts(
        graph=graph,
        context=CONTEXT,
        staleness=staleness,
        attempts=attempts,
        in_progress=progress,
        requested=requested,
        baselines=baselines,
        state_now=T0 + 100,
    )
    chosen = {key: draw(conditions()) for key in graph.order if draw(st.integers(0, 3))}
    if chosen and draw(st.booleans()):
        key = next(iter(chosen))
        chosen[key] = chosen[key].at_most(draw(st.integers(1, 3)))
    return definitions, state, facts, chosen


# --- the oracle -----------------------------------------------------------------------------


def oracle(conditions: dict, facts: Facts) -> dict:
    """Per asset, the partitions requested: one partition and one read at a time."""
    graph = facts.graph
    progress = {k: v.copy() for k, v in facts.in_progress.items()}
    found = {}
    for key in graph.order:
        if key not in conditions:
            continue
        s = facts.staleness[key]
        wanted = [
            p
            for p in range(s.size)
            if _holds(conditions[key], key, p, facts, progress) and not s.waiting[p]
        ]
        limit = conditions[key].max_per_tick
        wanted = wanted[-limit:]
        found[key] = set(wanted)
        if wanted:
            mask = progress.setdefault(key, np.zeros(s.size, dtype=bool))
            mask[wanted] = True
    return found


def _holds(node, key, p, facts: Facts, progress) -> bool:
    graph = facts.graph
    s = facts.staleness[key]
    if isinstance(node, All):
        return all(_holds(i, key, p, facts, progress) for i in node.items)
    if isinstance(node, Any_):
        return any(_holds(i, key, p, facts, progress) for i in node.items)
    if isinstance(node, Not):
        return not _holds(node.item, key, p, facts, progress)
    if isinstance(node, Capped):
        return _holds(node.item, key, p, facts, progress)
    if isinstance(node, Window):
        return p >= s.size - node.latest
    if isinstance(node, InProgress):
        return key in progress and bool(progress[key][p])
    reads = _reads(key, p, facts)
    if isinstance(node, DepsInProgress):
        return any(up in progress and progress[up][q] for up, q in reads)
    if isinstance(node, DepsMissing):
        return bool(s.waiting[p]) or any(
            math.isnan(facts.staleness[up].started[q])
            for up, q in reads
            if not graph.specs[up].is_source
        )
    attempts = facts.attempts[key]
    if isinstance(node, Failed):
        return bool(attempts.failed[p])
    if isinstance(node, DepsFailed):
        return any(
            facts.attempts[up].failed[q] or facts.attempts[up].blocked[q]
            for up, q in reads
            if not graph.specs[up].is_source
        )
    if isinstance(node, Missing):
        return _stale(frozenset({"missing"}), key, p, facts)
    if isinstance(node, Stale):
        return _stale(node.reasons, key, p, facts)
    raise AssertionError(node)


def _reads(key, p, facts: Facts) -> list:
    """Every (upstream, partition) that partition `p` of `key` reads."""
    graph = facts.graph
    return [
        (up, q)
        for up in graph.upstream[key]
        for q in graph.mappings[key][up].upstream_for(
            p, graph.specs[up].partitions, graph.specs[key].partitions, facts.context
        )
        if q < facts.staleness[up].size
    ]


def _stale(reasons, key, p, facts: Facts) -> bool:
    s = facts.staleness[key]
    if not s.stale[p]:
        return False
    baseline = facts.baselines[key]
    values = [
        facts.requested.get(key, np.full(s.size, np.nan))[p],
        facts.attempts[key].attempted[p],
        s.started[p],
    ]
    handled = max([v for v in values if not math.isnan(v)], default=-math.inf)
    for reason in s.reasons:
        if reason.kind.value not in reasons or p not in reason.partitions:
            continue
        if reason.kind is StaleKind.MISSING:
            definition = facts.graph.specs[key].partitions
            if definition is None:
                new = not baseline.had_history
            else:
                new = definition.time_window(p).end.timestamp() * US > baseline.since
            if new and handled == -math.inf:
                return True
            newest = max(
                (
                    facts.staleness[up].changed_at[q]
                    for up, q in _reads(key, p, facts)
                    if not math.isnan(facts.staleness[up].changed_at[q])
                ),
                default=-math.inf,
            )
            if newest > max(handled, baseline.since_seq):
                return True
            continue
        cause = {
            StaleKind.CODE_CHANGED: baseline.code_since,
            StaleKind.DEPS_CHANGED: baseline.code_since,
            StaleKind.INPUT_CHANGED: s.input_cause[p],
            StaleKind.SOURCE_CHANGED: s.source_cause[p],
        }.get(reason.kind, -math.inf)
        if cause > baseline.since_seq and cause > handled:
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_every_condition_agrees_with_the_per_partition_oracle(world) -> None:
    _definitions, _state, facts, chosen = world
    expected = oracle(chosen, facts)
    facts.in_progress = {k: v.copy() for k, v in facts.in_progress.items()}
    found = evaluate_conditions(chosen, facts)
    assert {k: set(e.requested) for k, e in found.items()} == expected


# --- each part, by hand ----------------------------------------------------------------------


@asset(partitions=DAYS)
def orders() -> pl.DataFrame:
    return pl.DataFrame()


@asset(partitions=DAYS)
def revenue(orders: pl.DataFrame) -> pl.DataFrame:
    return orders


@asset(partitions=DAYS)
def margins(orders: pl.DataFrame) -> pl.DataFrame:
    return orders


@asset(partitions=DAYS)
def report(revenue: pl.DataFrame, margins: pl.DataFrame) -> pl.DataFrame:
    return revenue


SHOP = Definitions(assets=[orders, revenue, margins, report]).graph
SINCE = Baseline(since=T0, since_seq=T0, code_since=T0)


def shop_facts(state: FakeState, *, baseline: Baseline = SINCE, **extra) -> Facts:
    staleness = assess(SHOP, SHOP.order, state, CONTEXT)
    baselines = {k: baseline for k in SHOP.order}
    return Facts(graph=SHOP, context=CONTEXT, staleness=staleness, baselines=baselines, **extra)


def everything_at(state: FakeState, at: float) -> None:
    keys = DAYS.keys(context=CONTEXT)
    for name in ("orders", "revenue", "margins", "report"):
        state.store(name, keys, started=at)


def requested(found, name: str) -> list[str]:
    evaluation = found.get(next(k for k in SHOP.order if str(k) == name))
    return [] if evaluation is None else DAYS.keys(evaluation.requested, CONTEXT)


def test_an_upstream_rerun_with_the_same_data_triggers_nothing_downstream() -> None:
    state = FakeState()
    everything_at(state, T0 + 10)
    keys = DAYS.keys(context=CONTEXT)
    state.store("orders", keys, started=T0 + 20, changed=T0 + 10)  # re-ran, same data version
    found = evaluate_conditions({k: Auto.on_stale() for k in SHOP.order}, shop_facts(state))
    assert all(not e.requested for e in found.values())


def test_new_data_upstream_requests_its_readers_and_the_reader_of_both_waits_for_them() -> None:
    state = FakeState()
    everything_at(state, T0 + 10)
    state.store("orders", ["2024-01-07"], started=T0 + 20)  # new data in one partition
    found = evaluate_conditions({k: Auto.on_stale() for k in SHOP.order}, shop_facts(state))
    assert requested(found, "revenue") == ["2024-01-07"]
    assert requested(found, "margins") == ["2024-01-07"]
    assert requested(found, "report") == []  # what it reads is requested this tick: in progress


def test_history_is_reported_not_requested_and_include_history_requests_it() -> None:
    state = FakeState()
    everything_at(state, T0 + 10)
    state.store("orders", DAYS.keys(context=CONTEXT), started=T0 + 20)
    late = Baseline(since=T0 + 30, since_seq=T0 + 30, code_since=T0 + 30)
    found = evaluate_conditions(
        {k: Auto.on_stale() for k in SHOP.order}, shop_facts(state, baseline=late)
    )
    assert all(not e.requested for e in found.values())
    assert found[SHOP.order[1]].history == 7  # revenue's 7 stale partitions, reported
    found = evaluate_conditions(
        {k: Auto.on_stale() for k in SHOP.order}, shop_facts(state, baseline=Baseline.everything())
    )
    assert len(requested(found, "revenue")) == 7


def test_a_failed_attempt_handles_its_cause_until_something_new_happens() -> None:
    state = FakeState()
    everything_at(state, T0 + 10)
    state.store("orders", ["2024-01-07"], started=T0 + 20)
    n = DAYS.size(CONTEXT)
    failed = Attempts(
        attempted=np.full(n, T0 + 25), failed=np.ones(n, bool), blocked=np.zeros(n, bool)
    )
    attempts = {k: failed for k in SHOP.order if str(k) == "revenue"}
    found = evaluate_conditions(
        {k: Auto.on_stale() for k in SHOP.order}, shop_facts(state, attempts=attempts)
    )
    assert requested(found, "revenue") == []  # tried after the change, failed: not again
    state.store("orders", ["2024-01-07"], started=T0 + 30)  # changed again
    found = evaluate_conditions(
        {k: Auto.on_stale() for k in SHOP.order}, shop_facts(state, attempts=attempts)
    )
    assert requested(found, "revenue") == ["2024-01-07"]


def test_a_dependency_that_failed_stops_propagation() -> None:
    state = FakeState()
    everything_at(state, T0 + 10)
    state.store("orders", ["2024-01-07"], started=T0 + 20)
    n = DAYS.size(CONTEXT)
    blocked = np.zeros(n, bool)
    blocked[6] = True
    attempts = {
        SHOP.order[0]: Attempts(
            attempted=np.full(n, np.nan), failed=np.zeros(n, bool), blocked=blocked
        )
    }
    found = evaluate_conditions(
        {k: Auto.on_stale() for k in SHOP.order}, shop_facts(state, attempts=attempts)
    )
    assert requested(found, "revenue") == []  # a blocking check of orders 2024-01-07 failed


def test_the_cap_keeps_the_newest_partitions_and_counts_the_rest() -> None:
    state = FakeState()
    found = evaluate_conditions(
        {SHOP.order[0]: Auto.on_missing(max_per_tick=2)},
        shop_facts(state, baseline=Baseline.everything()),
    )
    evaluation = found[SHOP.order[0]]
    assert DAYS.keys(evaluation.requested, CONTEXT) == ["2024-01-06", "2024-01-07"]
    assert evaluation.capped == 5


def test_on_cron_waits_for_every_dependency_to_update_after_the_tick_then_runs_once() -> None:
    state = FakeState()
    everything_at(state, T0 + 10)
    tick = datetime(2024, 1, 20, 6, tzinfo=UTC).timestamp() * US
    condition = {SHOP.order[3]: Auto.on_cron("0 6 * * *")}
    facts = shop_facts(state, state_now=tick + 60 * US, real_clock=True)
    found = evaluate_conditions(condition, facts)
    assert requested(found, "report") == []  # revenue and margins last updated before 06:00
    keys = DAYS.keys(context=CONTEXT)
    state.store("revenue", keys, started=tick + 10)
    state.store("margins", keys, started=tick + 20)
    found = evaluate_conditions(condition, shop_facts(state, state_now=tick + 60 * US))
    assert requested(found, "report") == ["2024-01-07"]  # the latest partition
    cursor = found[SHOP.order[3]].crons[("0 6 * * *", "UTC")]
    done = Baseline(since=T0, since_seq=T0, code_since=T0, crons={("0 6 * * *", "UTC"): cursor})
    again = evaluate_conditions(
        condition, shop_facts(state, baseline=done, state_now=tick + 90 * US)
    )
    assert requested(again, "report") == []  # once per tick


def test_conditions_say_what_they_are_and_refuse_nonsense() -> None:
    assert (Auto.missing() | Auto.failed()).describe() == "missing | failed"
    assert (~~Auto.in_progress()).describe() == "in progress"
    assert Auto.on_stale().fingerprint != Auto.on_missing().fingerprint
    with pytest.raises(DefinitionError, match="unknown reason"):
        Auto.stale(["tuesday"])
    with pytest.raises(DefinitionError, match="latest=N or span"):
        Auto.missing().within()
    with pytest.raises(DefinitionError, match="cannot combine"):
        Auto.missing() & "stale"  # type: ignore[operator]
    with pytest.raises(DefinitionError, match="unknown timezone"):
        Definitions(
            assets=[orders], automation={"orders": Auto.on_cron("0 6 * * *", "Mars/Olympus")}
        )
    with pytest.raises(DefinitionError, match="needs time partitions"):
        asset(freshness=Freshness(lag=timedelta(hours=1)))(orders.fn)
    with pytest.raises(DefinitionError, match="give lag="):
        Freshness()


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5), max_size=6),
    data=st.data(),
)
def test_split_places_each_row_at_its_partition_as_a_loop_per_asset_would(sizes, data) -> None:
    """`Attempts.split` lays every row into one set of arrays at once: the same as
    placing each asset's rows in its own arrays (rows in any order; a row past an
    asset's partitions ignored; an asset without a row gets the shared `none`)."""
    cells = [(o, i) for o, n in enumerate(sizes) for i in range(n + 2)]
    rows = data.draw(st.lists(st.sampled_from(cells), unique=True) if cells else st.just([]))
    n = len(rows)
    found = {
        "ordinal": np.array([o for o, _ in rows], dtype=np.int64),
        "idx": np.array([i for _, i in rows], dtype=np.int64),
        "attempted": np.array(data.draw(st.lists(st.floats(0, 1e9), min_size=n, max_size=n))),
        "failed": np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool),
        "blocked": np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool),
    }
    keys = [AssetKey.parse(f"a{o}") for o in range(len(sizes))]
    split = Attempts.split(found, keys, sizes)
    for o, (key, size) in enumerate(zip(keys, sizes, strict=True)):
        mine = [r for r, (ordinal, i) in enumerate(rows) if ordinal == o and i < size]
        if not mine:
            assert split[key] is Attempts.none(size)
            continue
        expected = Attempts._blank(size)
        for r in mine:
            expected.attempted[rows[r][1]] = found["attempted"][r]
            expected.failed[rows[r][1]] = found["failed"][r]
            expected.blocked[rows[r][1]] = found["blocked"][r]
        for name in ("attempted", "failed", "blocked"):
            assert np.array_equal(
                getattr(split[key], name), getattr(expected, name), equal_nan=True
            )
