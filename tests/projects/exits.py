"""A module that calls sys.exit(EXIT_CODE) while it is imported (as a script might)."""

import os
import sys

import polars as pl

from assay import asset


@asset
def numbers() -> pl.DataFrame:
    return pl.DataFrame({"n": [1, 2, 3]})


sys.exit(int(os.environ.get("EXIT_CODE", "3")))
