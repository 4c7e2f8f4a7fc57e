import polars as pl
import pytest

from assay import AssetIn, AssetKey, DuckDBIO, asset
from assay.assets import InputKind
from assay.errors import DefinitionError


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
