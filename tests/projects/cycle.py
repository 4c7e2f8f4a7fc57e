import polars as pl

from assay import asset


@asset
def a(c: pl.DataFrame) -> pl.DataFrame:
    return c


@asset
def b(a: pl.DataFrame) -> pl.DataFrame:
    return a


@asset
def c(b: pl.DataFrame) -> pl.DataFrame:
    return b
