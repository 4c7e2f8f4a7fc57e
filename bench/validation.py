"""Pandera validation of a 1,000,000-row, 5-column frame with 5 checks: through
assay's step validation against calling Pandera directly, in the same process.

Also: a whole materialization of the same frame with and without the schema,
to show what the schema adds to a real step (the write dominates).
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

import pandera.polars as pa
import polars as pl

from assay import asset
from assay.config import ProjectConfig
from assay.execution.quality import judge
from assay.execution.step import execute_step
from assay.io.parquet import ParquetIO

ROWS = 1_000_000
REPEAT = 15
WORK = Path(__file__).resolve().parent / ".work" / "validation"


class Orders(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    customer: str = pa.Field(str_length={"min_value": 1})
    amount: float = pa.Field(ge=0)
    quantity: int = pa.Field(in_range={"min_value": 1, "max_value": 100})
    status: str = pa.Field(isin=["new", "paid", "shipped", "refunded"])


def frame() -> pl.DataFrame:
    i = pl.int_range(ROWS, eager=True)
    return pl.DataFrame(
        {
            "order_id": i,
            "customer": ("c" + (i % 5000).cast(pl.String)),
            "amount": (i % 997).cast(pl.Float64) / 10,
            "quantity": (i % 100) + 1,
            "status": pl.Series(["new", "paid", "shipped", "refunded"]).gather(i % 4),
        }
    )


def best(fn: object, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    data = frame()
    checks = sum(len(c.checks) for c in Orders.to_schema().columns.values()) + 1  # + unique

    @asset(schema=Orders)
    def orders() -> pl.DataFrame:
        return data

    @asset
    def orders_unchecked() -> pl.DataFrame:
        return data

    Orders.validate(data, lazy=True)  # warm up
    # interleaved, so that both sides see the same machine noise
    pairs = [
        (
            best(lambda: Orders.validate(data, lazy=True), 1),
            best(lambda: judge(orders, (), data, partition=None, run_id="b", failures_dir=None), 1),
        )
        for _ in range(REPEAT)
    ]
    direct = statistics.median(d for d, _ in pairs)
    through = statistics.median(t for _, t in pairs)
    print(f"validate {ROWS:,} rows x 5 columns, {checks} checks (median of {REPEAT}):")
    print(f"  pandera directly   {direct * 1000:7.1f} ms")
    print(f"  through assay      {through * 1000:7.1f} ms   ratio {through / direct:.2f}x")

    shutil.rmtree(WORK, ignore_errors=True)
    config = ProjectConfig(root=WORK, home=WORK / ".assay", module=None, file=None, name="bench")
    io = ParquetIO().bind(config)

    def step(spec: object) -> None:
        (result,) = execute_step(spec, run_id="bench", partitions=None, inputs={}, io=io)  # type: ignore[arg-type]
        assert result.status == "succeeded", result.error

    with_schema = best(lambda: step(orders), 3)
    without = best(lambda: step(orders_unchecked), 3)
    print(
        f"  a whole step (validate + write Parquet): {with_schema * 1000:.0f} ms with the "
        f"schema, {without * 1000:.0f} ms without ({with_schema / without:.2f}x)"
    )


if __name__ == "__main__":
    main()
