"""Which IO manager an asset without one gets from its return annotation, and the
type checks `Definitions` makes between what an asset stores and what reads it."""

from pathlib import Path

import polars as pl
import pytest

from assay import (
    JSONIO,
    AllPartitionsMapping,
    AssetIn,
    Definitions,
    PickleIO,
    StaticPartitions,
    asset,
)
from assay.config import resolve_config
from assay.errors import DefinitionError


class Model:
    pass


def _returning(annotation):
    def value():
        return None

    if annotation is not ...:
        value.__annotations__ = {"return": annotation}
    return asset(value)


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (dict, "json"),
        (dict[str, int], "json"),
        (list[int], "json"),
        ("list", "json"),
        (bytes, "file"),
        (Path, "file"),
        (None, "none"),
        ("None", "none"),
        (str, "parquet"),
        (int, "parquet"),
        (Model, "parquet"),  # never a pickle by itself
        (pl.DataFrame, "parquet"),
        (..., "parquet"),
    ],
    ids=repr,
)
def test_the_return_annotation_chooses_the_io_manager_of_an_asset_without_one(
    tmp_path, annotation, kind
):
    (tmp_path / "pyproject.toml").write_text("")
    spec = _returning(annotation)
    io_for = Definitions(assets=[spec]).io_resolver(resolve_config(cwd=tmp_path))
    assert io_for(spec.key).kind == kind


def test_a_project_default_that_stores_values_wins_over_the_annotation(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    spec = _returning(dict)
    defs = Definitions(assets=[spec], io=PickleIO())
    assert defs.io_resolver(resolve_config(cwd=tmp_path))(spec.key).kind == "pickle"


def test_a_schema_on_an_asset_the_project_stores_as_json_is_an_error():
    import pandera.polars as pa

    class Orders(pa.DataFrameModel):
        amount: float

    @asset(schema=Orders)
    def orders():
        return pl.DataFrame({"amount": [1.0]})

    with pytest.raises(
        DefinitionError,
        match="asset 'orders': schema= validates frames, and this asset stores json",
    ):
        _ = Definitions(assets=[orders], io=JSONIO()).graph


REGIONS = StaticPartitions(["eu", "us"])


@asset(io=PickleIO(), partitions=REGIONS)
def regional_model(context) -> Model:
    return Model()


@asset(io=JSONIO(), partitions=REGIONS)
def regional_totals(context) -> dict:
    return {}


def test_several_partitions_of_values_are_a_dict_whose_values_are_checked():
    @asset(ins={"models": AssetIn("regional_model", partition_mapping=AllPartitionsMapping())})
    def best(models: dict[str, Model], regional_totals: dict[str, dict]) -> dict:
        return {}

    _ = Definitions(assets=[regional_model, regional_totals, best]).graph

    @asset
    def worst(regional_totals: dict[str, Model]) -> dict:
        return {}

    with pytest.raises(
        DefinitionError,
        match="input 'regional_totals' of asset 'worst' reads asset 'regional_totals', which "
        "stores json",
    ):
        _ = Definitions(assets=[regional_totals, worst]).graph


def test_a_batch_policy_on_an_asset_of_values_is_an_error():
    from assay import BatchPolicy, DailyPartitions

    with pytest.raises(DefinitionError, match="backfill_policy splits a frame into partitions"):

        @asset(
            partitions=DailyPartitions(start="2024-01-01"),
            backfill_policy=BatchPolicy(max_partitions=7, partition_column="day"),
        )
        def daily() -> dict:
            return {}


def test_a_multi_asset_returning_a_dict_of_outputs_keeps_each_outputs_own_io(tmp_path):
    from assay import AssetOut, multi_asset

    (tmp_path / "pyproject.toml").write_text("")

    @multi_asset(outs={"frame": AssetOut(), "settings": AssetOut(io=JSONIO())})
    def split() -> dict:  # a dict of outputs, not a JSON value
        return {"frame": pl.DataFrame({"a": [1]}), "settings": {"a": 1}}

    io_for = Definitions(assets=[split]).io_resolver(resolve_config(cwd=tmp_path))
    kinds = {str(spec.key): io_for(spec.key).kind for spec in split}
    assert kinds == {"frame": "parquet", "settings": "json"}
