import importlib
import sys
import typing

import polars as pl
import pyarrow as pa
import pytest

from assay import AssetIn, AssetKey, Definitions, DuckDBIO, asset, asset_check
from assay.errors import DefinitionError
from assay.io.base import InputKind


def test_bare_decorator_uses_function_name_and_docstring():
    @asset
    def orders() -> pl.DataFrame:
        """All orders."""
        return pl.DataFrame()

    assert orders.key == AssetKey(("orders",))
    assert orders.description == "All orders."
    assert orders.group == "default"
    assert isinstance(orders(), pl.DataFrame)  # still callable like the function


def test_arguments_are_kept():
    io = DuckDBIO()

    @asset(
        name="revenue",
        key_prefix="sales/eu",
        group="marts",
        tags={"tier": "gold"},
        owners=["team:finance"],
        description="Revenue.",
        deps=["raw/events"],
        ins={"src": AssetIn(key="sales/orders")},
        code_version="7",
        io=io,
    )
    def compute(context, src: pl.LazyFrame, other: pl.DataFrame) -> pl.DataFrame:
        """Ignored: description= wins."""
        return other

    assert compute.key == AssetKey(("sales", "eu", "revenue"))
    assert compute.group == "marts"
    assert dict(compute.tags) == {"tier": "gold"}
    assert compute.owners == ("team:finance",)
    assert compute.description == "Revenue."
    assert compute.deps == (AssetKey(("raw", "events")),)
    assert compute.ins["src"].key == AssetKey(("sales", "orders"))
    assert compute.ins["other"].key is None  # matched by name later
    assert dict(compute.input_kinds) == {"src": InputKind.LAZY, "other": InputKind.EAGER}
    assert compute.wants_context
    assert compute.code_version == "7"
    assert compute.io is io


def test_ins_naming_an_unknown_parameter_is_an_error():
    with pytest.raises(DefinitionError, match="ins names 'oders', which is not a parameter"):

        @asset(ins={"oders": AssetIn(key="orders")})
        def revenue(orders):
            return orders


def test_var_args_cannot_be_inputs():
    with pytest.raises(DefinitionError, match=r"\*args and \*\*kwargs cannot be inputs"):

        @asset
        def bad(*frames):
            return frames


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"name": "bad name"}, "invalid asset key segment 'bad name'"),
        ({"group": "a/b"}, "invalid group 'a/b'"),
        ({"tags": {"k": 1}}, "must map a string to a string"),
        ({"key_prefix": "../up"}, "invalid asset key segment '..'"),
    ],
    ids=["name", "group", "tag", "prefix"],
)
def test_invalid_arguments_name_the_culprit(kwargs, hint):
    def valid_name():
        return None

    with pytest.raises(DefinitionError, match=hint):
        asset(**kwargs)(valid_name)


FakePandasFrame = type("DataFrame", (), {"__module__": "pandas.core.frame"})


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (pl.DataFrame, InputKind.EAGER),
        (pl.LazyFrame, InputKind.LAZY),
        (pa.Table, InputKind.ARROW),
        (typing.Any, InputKind.EAGER),
        (object, InputKind.EAGER),
        ("pl.DataFrame", InputKind.EAGER),
        ("polars.LazyFrame", InputKind.LAZY),
        ("pa.Table", InputKind.ARROW),
        ("Any", InputKind.EAGER),
    ],
    ids=repr,
)
def test_supported_input_annotations_choose_how_the_input_arrives(annotation, kind):
    def revenue(orders):
        return orders

    revenue.__annotations__ = {"orders": annotation}  # strings, as under __future__
    assert asset(revenue).input_kinds == {"orders": kind}


@pytest.mark.parametrize(
    ("annotation", "shown", "hint"),
    [
        (int, "'int'", "annotate it pl.DataFrame (or leave it unannotated), pl.LazyFrame or"),
        (str, "'str'", "cannot hand over"),
        (dict[str, int], "'dict[str, int]'", "cannot hand over"),
        ("dict", "'dict'", "cannot hand over"),
        ("pl.DataFrame | None", "'pl.DataFrame | None'", "cannot hand over"),
        (FakePandasFrame, "'pandas.core.frame.DataFrame', a pandas", "call `.to_pandas()`"),
        ("pd.DataFrame", "'pd.DataFrame', a pandas DataFrame", "annotate it pl.DataFrame"),
    ],
    ids=["int", "str", "dict-generic", "dict-text", "optional", "pandas", "pandas-text"],
)
def test_other_input_annotations_are_definition_errors(annotation, shown, hint):
    def revenue(orders):
        return orders

    revenue.__annotations__ = {"orders": annotation}

    @asset
    def orders():
        return None

    spec = asset(revenue)  # until the graph is built, a parameter may name a resource
    with pytest.raises(DefinitionError) as caught:
        _ = Definitions(assets=[orders, spec]).graph
    message = str(caught.value)
    assert message.startswith(f"@asset on {revenue.__qualname__!r}: input 'orders' is annotated ")
    assert shown in message
    assert hint in message


def test_string_annotations_are_read_in_the_module_that_wrote_them(tmp_path, monkeypatch):
    (tmp_path / "future_shop.py").write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import polars as plr\n"
        "from assay import asset\n"
        "if TYPE_CHECKING:\n"
        "    import pyarrow as pa\n"
        "    import polars\n"
        "@asset\n"
        "def a(x: plr.LazyFrame, y: pa.Table, z: polars.DataFrame, w) -> plr.DataFrame:\n"
        "    return x\n"
        "@asset\n"
        "def b(x: int) -> plr.DataFrame:\n"
        "    return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    shop = importlib.import_module("future_shop")
    with pytest.raises(DefinitionError, match="@asset on 'b': input 'x' is annotated 'int'"):
        _ = Definitions(assets=[shop.b]).graph
    sys.modules.pop("future_shop", None)
    (tmp_path / "future_shop.py").write_text(
        (tmp_path / "future_shop.py").read_text().replace("x: int", "x: plr.DataFrame")
    )
    module = importlib.import_module("future_shop")
    try:
        assert module.a.input_kinds == {
            "x": InputKind.LAZY,
            "y": InputKind.ARROW,
            "z": InputKind.EAGER,
            "w": InputKind.EAGER,
        }
    finally:
        sys.modules.pop("future_shop", None)


def test_a_check_parameter_with_an_unsupported_annotation_is_an_error():
    with pytest.raises(DefinitionError, match="parameter 'orders' is annotated 'int'"):

        @asset_check(asset="orders")
        def positive(orders: int) -> bool:
            return orders > 0
