import polars as pl

from assay import asset


@asset
def orders() -> pl.DataFrame:
    return pl.DataFrame({"x": [1]})


@asset
def revenue(ordrs: pl.DataFrame) -> pl.DataFrame:
    return ordrs
