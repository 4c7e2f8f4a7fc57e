import polars as pl
import pytest

from assay import AssetIn, AssetKey, Definitions, asset
from assay.errors import DefinitionError, UnknownAssetError
from assay.graph import AssetGraph


def frame(**_: object) -> pl.DataFrame:
    return pl.DataFrame({"x": [1]})


def build(*specs):
    return AssetGraph.build(specs)


def test_inputs_resolve_by_name_and_order_is_topological():
    @asset
    def c(b):
        return b

    @asset
    def b(a):
        return a

    @asset
    def a():
        return frame()

    graph = build(c, b, a)
    assert [str(k) for k in graph.order] == ["a", "b", "c"]
    assert graph.inputs[AssetKey(("c",))] == {"b": AssetKey(("b",))}
    assert graph.upstream_of([AssetKey(("c",))]) == {AssetKey(("a",)), AssetKey(("b",))}
    assert graph.downstream_of([AssetKey(("a",))], depth=1) == {AssetKey(("b",))}


def test_input_matches_a_prefixed_asset_by_its_name():
    @asset(key_prefix="raw")
    def orders():
        return frame()

    @asset
    def revenue(orders):
        return orders

    graph = build(orders, revenue)
    assert graph.inputs[revenue.key]["orders"] == AssetKey(("raw", "orders"))


def test_ambiguous_name_prefers_same_prefix_else_asks_for_ins():
    @asset(key_prefix="eu")
    def orders():
        return frame()

    @asset(key_prefix="us", name="orders")
    def us_orders():
        return frame()

    @asset(key_prefix="eu")
    def revenue(orders):
        return orders

    @asset
    def total(orders):
        return orders

    assert build(orders, us_orders, revenue).inputs[revenue.key]["orders"] == orders.key
    with pytest.raises(DefinitionError, match=r"matches several assets \(eu/orders, us/orders\)"):
        build(orders, us_orders, total)


def test_unknown_input_suggests_the_closest_asset():
    @asset
    def orders():
        return frame()

    @asset
    def revenue(ordrs):
        return ordrs

    with pytest.raises(UnknownAssetError, match=r"input 'ordrs' of revenue.*Did you mean 'orders'"):
        build(orders, revenue)


def test_unknown_asset_in_key_and_dep_are_reported():
    @asset
    def orders():
        return frame()

    @asset(ins={"x": AssetIn(key="sales/orders")})
    def revenue(x):
        return x

    @asset(deps=["ordres"])
    def report():
        return frame()

    with pytest.raises(UnknownAssetError, match="'sales/orders', which matches no asset"):
        build(orders, revenue)
    with pytest.raises(UnknownAssetError, match=r"dep 'ordres' of report.*Did you mean 'orders'"):
        build(orders, report)


def test_cycle_is_printed_as_a_path():
    @asset
    def a(c):
        return c

    @asset
    def b(a):
        return a

    @asset
    def c(b):
        return b

    @asset
    def outside():
        return frame()

    with pytest.raises(DefinitionError, match=r"cycle: a -> b -> c -> a\. Remove one"):
        build(outside, a, b, c)


def test_self_dependency_is_a_cycle():
    @asset(deps=["me"])
    def me():
        return frame()

    with pytest.raises(DefinitionError, match="cycle: me -> me"):
        build(me)


def test_duplicate_keys_name_both_definitions():
    @asset(name="orders")
    def first():
        return frame()

    @asset(name="orders")
    def second():
        return frame()

    with pytest.raises(
        DefinitionError, match=r"duplicate asset key 'orders': defined at .*test_graph"
    ):
        build(first, second)


def test_definitions_rejects_non_assets():
    with pytest.raises(DefinitionError, match="decorate the function with @asset"):
        Definitions(assets=[frame])
