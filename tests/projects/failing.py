"""A chain whose middle fails: ok -> boom -> after; and an independent asset."""

import polars as pl

from assay import asset


@asset
def ok() -> pl.DataFrame:
    return pl.DataFrame({"x": [1, 2]})


@asset
def boom(context, ok: pl.DataFrame) -> pl.DataFrame:
    context.log.info("about to divide")
    return ok.with_columns(y=pl.col("x") // 0).select(pl.col("missing_column"))


@asset
def after(boom: pl.DataFrame) -> pl.DataFrame:
    return boom


@asset
def independent() -> pl.DataFrame:
    return pl.DataFrame({"z": [0]})
