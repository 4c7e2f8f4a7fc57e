"""A year of a shop's daily exports through a realistic pipeline, against a bare script.

The data: the example shop's generator (assets_example/generate.py) writes one
orders CSV per day of 2024 (150-420 orders, a few duplicates, refunds and
cancelled orders; deterministic) and the customer list, into
bench/.work/year/landing/. The pipeline (the same functions for both sides, in
year_logic.py):

    orders[day]            the day's CSV, typed                          Parquet
    cleaned_orders[day]    paid, unique, positive; a Pandera schema      Parquet
    daily_revenue[day]     revenue, orders, customers per day            DuckDBIO
                           check has_sales (blocking, error)
    rolling_revenue_7d[day]  the 7 days up to it (TimeWindowMapping(start_offset=-6)),
                           read from DuckDB; check full_week (warn)      Parquet
    monthly_revenue[month] a month's days of cleaned_orders (MonthlyPartitions)
                           per channel; check positive_months            Parquet
    customer_summary       every day of cleaned_orders, lazily, and the
                           customer list; check one_row_per_customer    Parquet

366 x 4 + 12 + 1 = 1,477 asset partitions. assay runs
`assay backfill start --from 2024-01-01 --to 2024-12-31 --force` in process
and with `--executor multiprocess --workers 2`; the bare script does the same
work in one process, in order: it reads each input back from where it was
stored, validates with the same Pandera model (`validate(frame, lazy=True)`),
runs the same checks as plain code (a failing blocking check stops that day),
writes Parquet files and the DuckDB table through one connection (a
transaction per day: delete the day's rows, insert). All are whole processes,
interleaved, REPEAT times; medians and ratios are printed.

`python bench/year.py [--explain] [--profile]` (REPEAT=1 for a quick look).
`--explain` adds in-process runs with lineage off (ASSAY_LINEAGE=off), with
`os.fsync` a no-op (what assay's durability costs: the journal is synced at each
step's end, each output before its rename), and with neither. `--profile`
samples one backfill of each executor with py-spy (`pip install py-spy`) and
prints where each process's time went.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPEAT = int(os.environ.get("REPEAT", "3"))
WORK = Path(__file__).resolve().parent / ".work" / "year"
ROOT = Path(__file__).resolve().parent.parent
ASSAY = Path(sys.executable).parent / "assay"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
FIRST, LAST = date(2024, 1, 1), date(2024, 12, 31)
STEPS = 366 * 4 + 12 + 1

LOGIC = '''
"""What the year's assets compute: shared by the assay project and the bare script."""

from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl

LANDING = Path(__file__).parent / "landing"
CUSTOMERS = 500
ORDER_COLUMNS = {
    "order_id": pl.Int64,
    "customer_id": pl.Int64,
    "ordered_at": pl.Datetime("us"),
    "amount": pl.Float64,
    "channel": pl.String,
    "status": pl.String,
}


class CleanOrders(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    customer_id: int = pa.Field(ge=1, le=CUSTOMERS)
    order_date: date
    ordered_at: pl.Datetime = pa.Field(nullable=False)
    amount: float = pa.Field(gt=0, lt=100_000)
    channel: str = pa.Field(isin=["web", "app", "marketplace"])


def read_orders(day: str) -> pl.DataFrame:
    return pl.read_csv(LANDING / f"orders-{day}.csv", schema=ORDER_COLUMNS)


def read_customers() -> pl.DataFrame:
    return pl.read_csv(
        LANDING / "customers.csv",
        schema={"customer_id": pl.Int64, "name": pl.String, "country": pl.String,
                "signup_date": pl.Date},
    )


def clean(orders: pl.DataFrame) -> pl.DataFrame:
    return (
        orders.unique("order_id", keep="first", maintain_order=True)
        .filter((pl.col("status") == "paid") & pl.col("customer_id").is_not_null()
                & (pl.col("amount") > 0))
        .select("order_id", "customer_id", pl.col("ordered_at").dt.date().alias("order_date"),
                "ordered_at", "amount", "channel")
    )


def daily(day: str, cleaned: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({
        "order_date": [date.fromisoformat(day)],
        "revenue": [round(float(cleaned["amount"].sum()), 2)],
        "order_count": [cleaned.height],
        "customers": [cleaned["customer_id"].n_unique()],
    })


def rolling(day: str, week: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({
        "order_date": [date.fromisoformat(day)],
        "revenue_7d": [round(float(week["revenue"].sum()), 2)],
        "orders_7d": [int(week["order_count"].sum())],
        "days": [week.height],
    })


def monthly(month: str, days: pl.DataFrame) -> pl.DataFrame:
    return (
        days.group_by("channel")
        .agg(revenue=pl.col("amount").sum().round(2), orders=pl.len(),
             customers=pl.col("customer_id").n_unique(), days=pl.col("order_date").n_unique())
        .with_columns(month=pl.lit(month))
        .sort("channel")
    )


def summary(cleaned: pl.LazyFrame, customers: pl.DataFrame) -> pl.DataFrame:
    per_customer = cleaned.group_by("customer_id").agg(
        lifetime_value=pl.col("amount").sum().round(2),
        order_count=pl.len(),
        first_order=pl.col("order_date").min(),
        last_order=pl.col("order_date").max(),
    )
    return (
        customers.lazy().select("customer_id", "name", "country")
        .join(per_customer, on="customer_id", how="left")
        .with_columns(pl.col("lifetime_value").fill_null(0.0), pl.col("order_count").fill_null(0))
        .sort("lifetime_value", descending=True)
        .collect()
    )


def has_sales(daily_revenue: pl.DataFrame) -> bool:
    return bool((daily_revenue["order_count"] > 0).all())


def full_week(rolling_revenue_7d: pl.DataFrame) -> bool:
    return bool((rolling_revenue_7d["days"] == 7).all())


def positive_months(monthly_revenue: pl.DataFrame) -> bool:
    return bool((monthly_revenue["revenue"] > 0).all())


def one_row_per_customer(customer_summary: pl.DataFrame) -> bool:
    return bool(customer_summary["customer_id"].is_unique().all()) and (
        customer_summary.height == CUSTOMERS
    )
'''

PROJECT = '''
"""The year's pipeline as assay assets (year_logic.py computes)."""

import polars as pl

import year_logic as logic
from assay import (
    AssetContext,
    AssetIn,
    DailyPartitions,
    DuckDBIO,
    MonthlyPartitions,
    TimeWindowMapping,
    asset,
    asset_check,
)

DAYS = DailyPartitions(start="2024-01-01", end="2025-01-01")
MONTHS = MonthlyPartitions(start="2024-01-01", end="2025-01-01")
WEEK = TimeWindowMapping(start_offset=-6)


@asset(partitions=DAYS)
def orders(context: AssetContext) -> pl.DataFrame:
    return logic.read_orders(context.partition_key)


@asset(partitions=DAYS, schema=logic.CleanOrders)
def cleaned_orders(orders: pl.DataFrame) -> pl.DataFrame:
    return logic.clean(orders)


@asset(partitions=DAYS, io=DuckDBIO())
def daily_revenue(context: AssetContext, cleaned_orders: pl.DataFrame) -> pl.DataFrame:
    return logic.daily(context.partition_key, cleaned_orders)


@asset(
    partitions=DAYS,
    ins={"week": AssetIn(key="daily_revenue", partition_mapping=WEEK)},
)
def rolling_revenue_7d(context: AssetContext, week: pl.DataFrame) -> pl.DataFrame:
    return logic.rolling(context.partition_key, week)


@asset(partitions=MONTHS)
def monthly_revenue(context: AssetContext, cleaned_orders: pl.DataFrame) -> pl.DataFrame:
    return logic.monthly(context.partition_key, cleaned_orders)


@asset
def customer_summary(cleaned_orders: pl.LazyFrame) -> pl.DataFrame:
    return logic.summary(cleaned_orders, logic.read_customers())


@asset_check(asset=daily_revenue, blocking=True)
def has_sales(daily_revenue: pl.DataFrame) -> bool:
    return logic.has_sales(daily_revenue)


@asset_check(asset=rolling_revenue_7d, severity="warn")
def full_week(rolling_revenue_7d: pl.DataFrame) -> bool:
    return logic.full_week(rolling_revenue_7d)


@asset_check(asset=monthly_revenue)
def positive_months(monthly_revenue: pl.DataFrame) -> bool:
    return logic.positive_months(monthly_revenue)


@asset_check(asset=customer_summary)
def one_row_per_customer(customer_summary: pl.DataFrame) -> bool:
    return logic.one_row_per_customer(customer_summary)
'''

BARE = '''
"""The year's pipeline as a plain script: the same work, in order, in one process."""

import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

import year_logic as logic

OUT = Path(sys.argv[1])
DAYS = [str(date(2024, 1, 1) + timedelta(days=i)) for i in range(366)]
MONTHS = [f"2024-{m:02d}-01" for m in range(1, 13)]


def path(asset, key=None):
    folder = OUT / asset if key is None else OUT / asset / f"partition={key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "data.parquet"


def warn(ok, what):
    if not ok:
        print("warning:", what, file=sys.stderr)


OUT.mkdir(parents=True, exist_ok=True)
con = duckdb.connect(str(OUT / "warehouse.duckdb"))
con.execute(
    "CREATE TABLE IF NOT EXISTS daily_revenue (order_date DATE, revenue DOUBLE, "
    "order_count BIGINT, customers UINTEGER, _partition VARCHAR)"
)
stored_days = []
for i, day in enumerate(DAYS):
    logic.read_orders(day).write_parquet(path("orders", day))
    cleaned = logic.CleanOrders.validate(
        logic.clean(pl.read_parquet(path("orders", day))), lazy=True
    )
    cleaned.write_parquet(path("cleaned_orders", day))
    revenue = logic.daily(day, pl.read_parquet(path("cleaned_orders", day)))
    if not logic.has_sales(revenue):  # blocking: not stored, the rolling day skipped
        continue
    rows = revenue.to_arrow()
    con.execute("BEGIN")
    con.execute("DELETE FROM daily_revenue WHERE _partition = ?", [day])
    con.execute(
        "INSERT INTO daily_revenue BY NAME SELECT *, ?::VARCHAR AS _partition FROM rows", [day]
    )
    con.execute("COMMIT")
    stored_days.append(day)
    window = DAYS[max(0, i - 6): i + 1]
    week = con.sql(
        "SELECT * EXCLUDE (_partition) FROM daily_revenue "
        "WHERE _partition IN (SELECT unnest(?::VARCHAR[]))",
        params=[window],
    ).pl()
    rolled = logic.rolling(day, week)
    warn(logic.full_week(rolled), f"full_week {day}")
    rolled.write_parquet(path("rolling_revenue_7d", day))
con.close()
for month in MONTHS:
    days = [d for d in DAYS if d[:7] == month[:7]]
    frame = pl.read_parquet([path("cleaned_orders", d) for d in days])
    result = logic.monthly(month, frame)
    warn(logic.positive_months(result), f"positive_months {month}")
    result.write_parquet(path("monthly_revenue", month))
cleaned = pl.scan_parquet([path("cleaned_orders", d) for d in DAYS])
result = logic.summary(cleaned, logic.read_customers())
assert logic.one_row_per_customer(result)
result.write_parquet(path("customer_summary"))
print(len(stored_days))
'''


def generate() -> None:
    """The shop's exports for every day of 2024, once (deterministic: same bytes)."""
    landing = WORK / "landing"
    if (landing / f"orders-{LAST}.csv").exists():
        return
    sys.path.insert(0, str(ROOT))
    from assets_example.generate import write_customers, write_orders

    landing.mkdir(parents=True, exist_ok=True)
    write_customers(landing)
    day = FIRST
    while day <= LAST:
        write_orders(landing, day)
        day += timedelta(days=1)


def write_project() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "pyproject.toml").write_text('[tool.assay]\nmodule = "year_shop"\n')
    (WORK / "year_logic.py").write_text(LOGIC)
    (WORK / "year_shop.py").write_text(PROJECT)
    (WORK / "bare.py").write_text(BARE)


CPU: list[float] = []  # CPU seconds (user + system) of each timed command and its workers


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=WORK, capture_output=True, text=True, env=env or ENV)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return seconds


BACKFILL = ["backfill", "start", "--from", str(FIRST), "--to", str(LAST), "--force"]
# assay with os.fsync a no-op (the journal's at each step's end, each output's before
# its rename): what durability costs, for --explain only; DuckDB's own syncs stay.
NO_FSYNC = "import os, sys; os.fsync = lambda fd: None; from assay.cli.main import main; main()"


def backfill(*extra: str, lineage: bool = True, fsync: bool = True) -> float:
    shutil.rmtree(WORK / ".assay", ignore_errors=True)
    command = [str(ASSAY)] if fsync else [sys.executable, "-c", NO_FSYNC]
    env = ENV if lineage else {**ENV, "ASSAY_LINEAGE": "off"}
    return timed([*command, *BACKFILL, *extra], env)


def bare() -> float:
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    return timed([sys.executable, "bare.py", "bare"])


def check_outputs() -> None:
    """Both sides computed the same frames (the last assay run against the bare one)."""
    import duckdb
    import polars as pl

    for asset, key in (
        ("rolling_revenue_7d", "2024-12-31"),
        ("monthly_revenue", "2024-06-01"),
        ("customer_summary", None),
    ):
        tail = "data.parquet" if key is None else f"partition={key}/data.parquet"
        ours = pl.read_parquet(WORK / ".assay/storage" / asset / tail)
        theirs = pl.read_parquet(WORK / "bare" / asset / tail)
        assert ours.equals(theirs), (asset, key)
    query = "SELECT * EXCLUDE (_partition) FROM daily_revenue ORDER BY order_date"
    with duckdb.connect(str(WORK / ".assay/warehouse.duckdb"), read_only=True) as con:
        ours = con.sql(query).pl()
    with duckdb.connect(str(WORK / "bare/warehouse.duckdb"), read_only=True) as con:
        theirs = con.sql(query).pl()
    assert ours.equals(theirs)


# Where a sample's time goes: the innermost frame that matches, tried in this order.
CATEGORIES = [
    ("imports (process start)", r"_find_and_load|<frozen importlib"),
    ("DuckDB IO, waiting for the keeper", r"Warehouse\._ask"),
    ("DuckDB IO (DuckDBIO)", r"assay/io/duckdb\.py|assay/io/warehouse\.py"),
    ("Pandera validation", r"pandera/"),
    ("Parquet IO (+ data version, fsync)", r"assay/io/parquet\.py|assay/io/atomic\.py"),
    ("asset functions and checks", r"year_logic\.py|year_shop\.py"),
    ("lineage events", r"assay/lineage/|_with_lineage|emission\.py|openlineage"),
    ("journal (fsync per step)", r"state/journal\.py"),
    ("state store indexing", r"state/store\.py|state/indexer\.py|_Indexer"),
    ("tasks and results pickled", r"pickle|_ForkingPickler|Connection\.send|_send_bytes"),
    ("step bookkeeping", r"execution/step\.py|execution/quality\.py|executors\.py"),
    ("scheduling, provenance", r"execution/runner\.py|execution/backfill\.py"),
    ("CLI, progress", r"assay/cli/|rich/"),
]


def profile(*extra: str) -> None:
    """Sample one backfill with py-spy (every process, 100 Hz) and print, per process,
    where its samples went (idle threads are not sampled)."""
    import collections
    import re

    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    shutil.rmtree(WORK / ".assay", ignore_errors=True)
    out = WORK / "profile.raw"
    record = [str(spy), "record", "--subprocesses", "--rate", "100", "--format", "raw"]
    timed([*record, "--output", str(out), "--", str(ASSAY), *BACKFILL, *extra])
    patterns = [(name, re.compile(p)) for name, p in CATEGORIES]
    per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        processes = [f for f in frames if f.startswith("process ")]
        who = "worker" if len(processes) > 1 else "coordinator"
        if len(processes) > 1:
            who += " " + processes[-1].split(":")[0].split()[1]
        frames = [f for f in frames if not f.startswith("process ")]
        if any("(threading.py" in f for f in frames[:2]):
            who += ", its threads"
        found = next(
            (name for f in reversed(frames) for name, p in patterns if p.search(f)), "other"
        )
        per[who][found] += int(count)
    print(f"py-spy samples of `assay {' '.join([*BACKFILL, *extra])}`:")
    for who, counts in sorted(per.items()):
        total = sum(counts.values())
        print(f"  {who} ({total / 100:.1f} s sampled):")
        for name, n in counts.most_common():
            print(f"    {name:<38} {n / total * 100:5.1f}%")


def main() -> None:
    generate()
    write_project()
    timed([str(ASSAY), "--help"])  # warm the bytecode cache
    sides = [
        ("bare script", bare),
        ("assay in_process", backfill),
        ("assay multiprocess 2", lambda: backfill("--executor", "multiprocess", "--workers", "2")),
    ]
    if "--explain" in sys.argv:
        sides += [
            ("in_process, lineage off", lambda: backfill(lineage=False)),
            ("in_process, no fsync", lambda: backfill(fsync=False)),
            ("in_process, neither", lambda: backfill(lineage=False, fsync=False)),
        ]
    runs: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for _ in range(REPEAT):
        for name, run in sides:
            runs.setdefault(name, []).append(run())
            cpu.setdefault(name, []).append(CPU[-1])
    check_outputs()
    t = {name: statistics.median(times) for name, times in runs.items()}
    print(
        f"a year of daily exports, {STEPS} asset partitions, median of {REPEAT} "
        f"(wall; CPU of the process and its workers):"
    )
    for name, seconds in t.items():
        shown = ", ".join(f"{s:.2f}" for s in runs[name])
        print(
            f"  {name:<24} {seconds:6.2f} s  {seconds / t['bare script']:5.2f}x  "
            f"CPU {statistics.median(cpu[name]):6.2f} s  ({shown})"
        )
    serial, parallel, base = t["assay in_process"], t["assay multiprocess 2"], t["bare script"]
    print(
        f"  in_process:  ratio {serial / base:.2f}x vs bare (target <= 1.5x); "
        f"overhead {(serial - base) / STEPS * 1000:.2f} ms per asset partition"
    )
    print(
        f"  2 workers:   ratio {parallel / base:.2f}x vs bare; "
        f"{serial / parallel:.2f}x as fast as in_process (target > 1)"
    )
    if "--profile" in sys.argv:
        profile()
        profile("--executor", "multiprocess", "--workers", "2")


if __name__ == "__main__":
    main()
