import polars as pl
import pytest

from assay import asset
from assay.errors import SelectionError
from assay.graph import AssetGraph
from assay.selection import parse_selection


def _frame():
    return pl.DataFrame({"x": [1]})


@asset(key_prefix="raw", group="raw", tags={"tier": "bronze"})
def orders():
    return _frame()


@asset(key_prefix="raw", group="raw", tags={"tier": "bronze"})
def customers():
    return _frame()


@asset(group="staging", tags={"tier": "silver"})
def cleaned(orders, customers):
    return orders


@asset(key_prefix="sales", group="marts", tags={"tier": "gold", "pii": "no"})
def revenue(cleaned):
    return cleaned


@asset(key_prefix="sales", group="marts", tags={"tier": "gold"})
def report(revenue):
    return revenue


GRAPH = AssetGraph.build([orders, customers, cleaned, revenue, report])


def select(text):
    return [str(k) for k in parse_selection(text).resolve(GRAPH)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["raw/customers", "raw/orders", "cleaned", "sales/revenue", "sales/report"]),
        ("*", ["raw/customers", "raw/orders", "cleaned", "sales/revenue", "sales/report"]),
        ("cleaned", ["cleaned"]),
        ("raw/orders", ["raw/orders"]),
        ("orders", ["raw/orders"]),
        ("+cleaned", ["raw/customers", "raw/orders", "cleaned"]),
        ("cleaned+", ["cleaned", "sales/revenue", "sales/report"]),
        ("cleaned+1", ["cleaned", "sales/revenue"]),
        ("1+revenue", ["cleaned", "sales/revenue"]),
        ("+revenue+", ["raw/customers", "raw/orders", "cleaned", "sales/revenue", "sales/report"]),
        ("group:marts", ["sales/revenue", "sales/report"]),
        ("tag:tier=gold", ["sales/revenue", "sales/report"]),
        ("tag:pii", ["sales/revenue"]),
        ("key:sales/*", ["sales/revenue", "sales/report"]),
        ("key:raw/*", ["raw/customers", "raw/orders"]),
        ("orders group:marts", ["raw/orders", "sales/revenue", "sales/report"]),
        ("+group:staging", ["raw/customers", "raw/orders", "cleaned"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_selection(text, expected):
    assert select(text) == expected


def test_several_arguments_are_unioned():
    assert [str(k) for k in parse_selection(["orders", "customers"]).resolve(GRAPH)] == [
        "raw/customers",
        "raw/orders",
    ]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("grop:raw", r"at column 1: unknown method 'grop:'\. Did you mean 'group'"),
        ("orders grp:raw", r"at column 8: unknown method 'grp:'"),
        ("tag:", r"at column 5: tag: needs a value"),
        ("ord++", r"at column 4: cannot read 'ord\+\+'"),
        ("a+b", r"at column 2: cannot read 'a\+b'; '\+' goes only before or after"),
        ("ordrs", r"'ordrs' matches no asset\. Did you mean 'orders'"),
        ("group:mart", r"group:mart selects no asset\. Did you mean 'marts'\? Groups: marts, raw"),
        ("tag:tier=platinum", r"selects no asset.*Tags: pii=no, tier=bronze"),
        ("key:nothing/*", r"key:nothing/\* selects no asset"),
        ("bad..name", r"at column 1: 'bad\.\.name' is not an asset name"),
    ],
    ids=[
        "method",
        "second-term",
        "empty-tag",
        "double-plus",
        "inner-plus",
        "unknown",
        "group",
        "tag",
        "key",
        "bad-name",
    ],
)
def test_bad_selections_say_where_and_why(text, hint):
    with pytest.raises(SelectionError, match=hint):
        select(text)


def test_ambiguous_name_asks_for_the_full_key():
    @asset(key_prefix="eu", name="orders")
    def eu_orders():
        return _frame()

    graph = AssetGraph.build([orders, eu_orders])
    with pytest.raises(SelectionError, match=r"several assets \(eu/orders, raw/orders\)"):
        parse_selection("orders").resolve(graph)
