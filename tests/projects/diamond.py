"""A diamond: source -> left, right -> joined; plus a tagged leaf."""

import logging

import polars as pl

from assay import asset

log = logging.getLogger(__name__)


@asset(group="raw", tags={"tier": "bronze"}, owners=["alice@example.com"])
def source() -> pl.DataFrame:
    """Five numbers."""
    return pl.DataFrame({"n": [1, 2, 3, 4, 5]})


@asset(group="mid")
def left(source: pl.DataFrame) -> pl.DataFrame:
    return source.with_columns(side=pl.lit("left"))


@asset(group="mid")
def right(context, source: pl.LazyFrame) -> pl.LazyFrame:
    context.log.info("doubling %d-column input", len(source.collect_schema()))
    log.warning("standard logging reaches the step log")
    return source.with_columns(n=pl.col("n") * 2, side=pl.lit("right"))


@asset(group="out", tags={"tier": "gold"})
def joined(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([left, right])
