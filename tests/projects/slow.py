"""Ten chained steps that take a moment each (SLOW_STEP_S, default 0.3 s)."""

import os
import time

import polars as pl

from assay import Definitions, asset

PAUSE_S = float(os.environ.get("SLOW_STEP_S", "0.3"))


def _make(index: int):
    def step(context) -> pl.DataFrame:
        time.sleep(PAUSE_S)
        context.log.info("step %d done", index)
        return pl.DataFrame({"step": [index]})

    step.__name__ = f"step_{index:02d}"
    return asset(deps=[f"step_{index - 1:02d}"] if index else [])(step)


defs = Definitions(assets=[_make(i) for i in range(10)])
