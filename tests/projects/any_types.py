"""Assets of every stored type: JSON values, pickles, files and side effects.

`FAIL_SUMMARY=1` makes `summary` return a value JSON cannot hold (a set);
`PUBLISHED_DIR` is where `publish` copies the chart (default: `published/`).
"""

import os
from pathlib import Path

import polars as pl

from assay import (
    JSONIO,
    CheckResult,
    FileIO,
    Output,
    PickleIO,
    StaticPartitions,
    asset,
    asset_check,
)

REGIONS = StaticPartitions(["eu", "us"])


class Model:
    """A fitted model of our own: stored by PickleIO."""

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def score(self, total: float) -> float:
        return round(self.weight * total, 6)


@asset
def orders() -> pl.DataFrame:
    return pl.DataFrame({"region": ["eu", "us", "eu"], "amount": [10.0, 20.0, 5.0]})


@asset
def summary(orders: pl.DataFrame) -> dict:  # no io=: `-> dict` is stored by JSONIO
    if os.environ.get("FAIL_SUMMARY"):
        return {"rows": 3, "regions": {"eu", "us"}}
    return {"total": orders["amount"].sum(), "rows": orders.height}


@asset(io=JSONIO(), partitions=REGIONS)
def regional(context, orders) -> dict:
    mine = orders.filter(pl.col("region") == context.partition_key)
    return {"region": context.partition_key, "total": mine["amount"].sum()}


@asset(io=FileIO(suffix=".txt"), partitions=REGIONS)
def regional_note(regional: dict) -> bytes:  # one partition each: the value itself
    return f"{regional['region']}: {regional['total']}".encode()


@asset(io=PickleIO())
def model(summary: dict) -> Model:
    return Model(summary["total"] / 100)


@asset
def scores(model: Model, regional: dict) -> dict:  # every partition: {key: value}
    return {region: model.score(value["total"]) for region, value in sorted(regional.items())}


@asset(io=FileIO(suffix=".html"))
def report(scores: dict, regional_note: dict[str, Path]) -> Path:
    build = Path("build")
    build.mkdir(exist_ok=True)
    notes = "".join(f"<li>{path.read_text()}</li>" for path in regional_note.values())
    page = build / "report.html"
    page.write_text(f"<h1>Scores</h1><p>{scores}</p><ul>{notes}</ul>")
    return page


@asset
def chart(scores: dict) -> bytes:  # no io=: `-> bytes` is stored by FileIO
    return repr(sorted(scores.items())).encode()


@asset(deps=[report])
def publish(chart: Path) -> None:
    """A side effect: copy the chart where readers find it, log each publication."""
    folder = Path(os.environ.get("PUBLISHED_DIR", "published"))
    folder.mkdir(exist_ok=True)
    (folder / "chart.txt").write_bytes(chart.read_bytes())
    with (folder / "log.txt").open("a") as log:
        log.write("published\n")


@asset(deps=[publish])
def announce() -> None:
    return Output(None, data_version="announced-v1")


@asset_check(asset=publish)
def chart_is_published(publish: None) -> CheckResult:
    folder = Path(os.environ.get("PUBLISHED_DIR", "published"))
    return CheckResult(passed=(folder / "chart.txt").is_file(), metadata={"folder": str(folder)})


@asset_check(asset=summary, blocking=True)
def has_rows(summary: dict) -> bool:
    return summary["rows"] > 0


@asset_check(asset=report)
def report_has_title(report: bytes) -> bool:
    return b"<h1>" in report


@asset_check(asset=chart)
def chart_is_text(chart: Path) -> bool:  # a file, before and after it is stored
    return chart.read_bytes().startswith(b"[")
