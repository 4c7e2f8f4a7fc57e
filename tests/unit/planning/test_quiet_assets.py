"""Quiet assets (every partition current, nothing they read changed since) are told from
whole-array reductions (`staleness.quiet_staleness`); on any stored state, that gives
exactly what the per-input pass (`_asset`) gives."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay import AssetIn, DailyPartitions, Definitions, TimeWindowMapping, asset
from assay.planning import staleness
from assay.planning.staleness import assess
from assay.versioning import code_version, inputs_signature
from tests.unit.planning.fake_state import FakeState
from tests.unit.planning.test_planner import CONTEXT, GRAPH, KEYS

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-08")


def _layered(seed: int, layers: int = 4, width: int = 4):
    """A layered graph of daily assets, each reading 1-3 of the layer before, through
    identity or a window of the days before."""
    rng = np.random.default_rng(seed)
    made = []
    for layer in range(layers):
        for i in range(width):
            name = f"l{layer}_{i}"
            ups = (
                []
                if layer == 0
                else sorted(rng.choice(width, size=int(rng.integers(1, 4)), replace=False).tolist())
            )
            params = [f"u{j}" for j in ups]
            ins = {
                f"u{j}": AssetIn(
                    key=f"l{layer - 1}_{j}",
                    partition_mapping=TimeWindowMapping(start_offset=-int(rng.integers(0, 3))),
                )
                for j in ups
            }
            scope: dict[str, object] = {"pl": pl}
            exec(f"def {name}({', '.join(params)}):\n    return pl.DataFrame()\n", scope)
            made.append(asset(partitions=DAYS, ins=ins)(scope[name]))
    return Definitions(assets=made).graph


GRAPHS = {"mixed": GRAPH, "layered": _layered(3)}


@st.composite
def stored_states(draw, graph):
    """Per asset: all, some or none of its partitions stored, at small times (so that
    inputs change before and after their readers start), the current code or not."""
    state = FakeState()
    for key in graph.order:
        spec = graph.specs[key]
        keys = [""] if spec.partitions is None else spec.partitions.keys(context=CONTEXT)
        kept = draw(st.sampled_from(["all", "all", "all", "some", "none"]))
        if kept == "none":
            continue
        chosen = keys if kept == "all" else [k for k in keys if draw(st.booleans())]
        if not chosen:
            continue
        n = len(chosen)
        layer = draw(st.integers(0, 3))
        started = np.array([draw(st.integers(layer * 10, layer * 10 + 12)) for _ in range(n)])
        changed = started + np.array([draw(st.integers(0, 3)) for _ in range(n)])
        current = draw(st.sampled_from([True, True, True, False]))
        state.store(
            str(key),
            chosen,
            started=started.astype(float),
            changed=changed.astype(float),
            code=code_version(spec) if current else "old",
            signature=inputs_signature(graph, key),
            absent=[draw(st.booleans()) and draw(st.booleans()) for _ in range(n)]
            if spec.is_source
            else False,
            reads={str(up): 1.0 for up in graph.upstream[key]},
        )
    return state


def _assessed(graph, state, *, quiet: bool):
    with pytest.MonkeyPatch.context() as patched:
        if not quiet:
            patched.setattr(staleness, "quiet_staleness", lambda *args, **kwargs: None)
        return assess(graph, graph.order, state, CONTEXT)


ARRAYS = ("stale", "waiting", "changed_at", "started", "updated", "input_cause", "source_cause")


def _same(one, other) -> None:
    assert one.keys() == other.keys()
    for key in one:
        a, b = one[key], other[key]
        assert a.reasons == b.reasons, key
        assert a.size == b.size, key
        for name in ARRAYS:
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), (key, name)
            if x is not None:
                assert np.array_equal(x, y, equal_nan=True), (key, name)
        if a.newest_input is not None:
            assert np.array_equal(a.newest_input, b.newest_input, equal_nan=True), key
        elif b.newest_input is not None:  # left out only where nothing is missing (its use)
            assert not np.isnan(a.started).any(), key


@pytest.mark.parametrize("name", list(GRAPHS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_quiet_assets_are_assessed_as_the_per_input_pass_assesses_them(name, data):
    graph = GRAPHS[name]
    state = data.draw(stored_states(graph))
    _same(_assessed(graph, state, quiet=True), _assessed(graph, state, quiet=False))


def test_a_fresh_store_is_told_quiet_without_the_per_input_pass(monkeypatch):
    state = FakeState()
    for layer, key in enumerate(GRAPHS["layered"].order):
        state.store(str(key), KEYS, started=float(10 * (1 + layer)))
    told = []
    real = staleness.quiet_staleness
    monkeypatch.setattr(
        staleness, "quiet_staleness", lambda *a, **k: told.append(real(*a, **k)) or told[-1]
    )
    found = assess(GRAPHS["layered"], GRAPHS["layered"].order, state, CONTEXT)
    assert not any(s.stale.any() for s in found.values())
    assert len(told) == len(found)
    assert all(t is not None for t in told)
