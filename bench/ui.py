"""The web UI at scale, and alongside a running backfill.

- pages: bench/planner.py's store of 1,000 assets x 3,650 daily partitions (3.65M
  asset partitions), with a run of 3,650 steps and two checks on every partition
  of one asset; the UI's app in process (Starlette's test client: the server
  side of each request), its health evaluated in the background thread as
  `assay ui` does. Each page is requested REQUESTS times; p50 and p95 are printed
  against the 200 ms target. The baseline is what a UI without a health keeper
  would do per page: plan the project (`project.plan()`), timed in the same
  process; the ratio is page p95 / that plan. Also timed: the first evaluation
  and one incremental refresh after a partition was materialized again.
- load: a backfill of 3 chained daily assets over LOAD_DAYS days in process,
  alone, then again on a fresh home while a real `assay ui` (uvicorn) serves 20
  requests/s over every view from another process; the ratio is the backfill's
  time with the load over its time alone (target within 5%), with the errors
  (target 0) and the latency of the requests made meanwhile.

    python bench/ui.py            # pages, and a ~1 min load run
    python bench/ui.py --full     # the load run over a backfill of ~5 min (20 years)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import planner

WORK = Path(__file__).resolve().parent / ".work" / "ui"
REQUESTS = 20
PAGE_TARGET_S = 0.2
RATE = 20  # requests per second in the load run
LOAD_DAYS = 365
FULL_LOAD_DAYS = 20 * 365  # a backfill of ~5 min alone on this machine
ASSAY = Path(sys.executable).parent / "assay"

CHAIN = """
import polars as pl

from assay import DailyPartitions, asset

DAYS = DailyPartitions(start="{start}", end="{end}")


@asset(partitions=DAYS)
def raw(context) -> pl.DataFrame:
    return pl.DataFrame({{"day": [context.partition_key] * 2000, "i": list(range(2000))}})


@asset(partitions=DAYS)
def cleaned(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.filter(pl.col("i") % 3 > 0).with_columns(net=pl.col("i") * 0.8)


@asset(partitions=DAYS)
def daily(cleaned: pl.DataFrame) -> pl.DataFrame:
    return cleaned.group_by("day").agg(pl.col("net").sum(), pl.len().alias("rows"))
"""

VIEWS = [
    "/",
    "/plan",
    "/runs",
    "/backfills",
    "/checks",
    "/automation",
    "/assets/{asset}",
]


def populate_history(work: Path) -> None:
    """A run of 3,650 steps of `a9_9` and two checks on each of its partitions."""
    import duckdb

    con = duckdb.connect(str(work / ".assay" / "assay.duckdb"))
    con.execute(
        "INSERT INTO runs (run_id, status, kind, selection, started_at, finished_at, "
        "step_count, succeeded_count, failed_count, skipped_count) VALUES "
        "('bench-run', 'succeeded', 'backfill', 'a9_9', TIMESTAMPTZ '2025-01-01 00:00:00+00', "
        "TIMESTAMPTZ '2025-01-01 01:00:00+00', 3650, 3649, 1, 0)"
    )
    con.execute(
        f"""
        INSERT INTO steps (run_id, step_key, asset_key, partition_key, status, started_at,
                           finished_at, error, attempts)
        SELECT 'bench-run', 'a9_9[' || k || ']', 'a9_9', k,
               CASE WHEN i = 1000 THEN 'failed' ELSE 'succeeded' END,
               TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_milliseconds(i * 900),
               TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_milliseconds(i * 900 + 800),
               CASE WHEN i = 1000 THEN 'boom' END, 1
        FROM (SELECT i, strftime(DATE '{planner.START}' + i::INTEGER, '%Y-%m-%d') AS k
              FROM range({planner.DAYS}) r(i))
        """
    )
    con.execute(
        f"""
        INSERT INTO check_results BY NAME
        SELECT 'c-' || name || '-' || i AS check_result_id, 'bench-run' AS run_id,
               'a9_9' AS asset_key, strftime(DATE '{planner.START}' + i::INTEGER, '%Y-%m-%d')
               AS partition_key, name AS check_name,
               CASE WHEN i % 97 = 0 THEN 'failed' ELSE 'passed' END AS status,
               i % 97 <> 0 AS passed, CASE WHEN name = 'warned' THEN 'warn' ELSE 'error' END
               AS severity, false AS blocking,
               TIMESTAMPTZ '2025-01-01 02:00:00+00' AS checked_at, i AS seq
        FROM range({planner.DAYS}) r(i), (VALUES ('rows'), ('warned')) v(name)
        """
    )
    con.close()


def pages() -> dict[str, Any]:
    """In a fresh process: the first evaluation, every page's p50/p95, an incremental
    refresh, and the naive per-request plan."""
    sys.path.insert(0, str(WORK))
    import duckdb
    from starlette.testclient import TestClient

    import assay
    from assay.web.app import create_app

    project = assay.load(module="wide", home=WORK / ".assay")
    app = create_app(project, actions=False)
    ui = app.state.ui
    figures: dict[str, Any] = {"pages": {}}
    with TestClient(app, base_url="http://127.0.0.1:3100") as client:
        started = time.perf_counter()
        while ui.keeper.latest is None:  # pages meanwhile say they are evaluating
            time.sleep(0.01)
        figures["first_evaluation_s"] = time.perf_counter() - started
        assert client.get("/").status_code == 200
        urls = [
            *(u.format(asset="a9_9") for u in VIEWS),
            "/?select=a5_5&depth=2",
            "/assets/a0_0",
            "/runs/bench-run",
        ]
        for url in urls:
            times = []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                answer = client.get(url)
                times.append(time.perf_counter() - started)
                assert answer.status_code == 200, (url, answer.text[:300])
            figures["pages"][url] = _quantiles(times)
        ui.keeper.stop()  # the refresh below is timed by hand
        con = duckdb.connect(str(WORK / ".assay" / "assay.duckdb"))
        con.execute(
            "UPDATE asset_partitions SET data_version = 'new', seq = seq + 10_000_000_000, "
            "changed_seq = changed_seq + 10_000_000_000 "
            "WHERE asset_key = 'a0_0' AND partition_key = '2020-01-01'"
        )
        con.close()
        started = time.perf_counter()
        ui.keeper.refresh()
        figures["incremental_refresh_s"] = time.perf_counter() - started
    plans = []
    for _ in range(3):
        fresh = assay.load(module="wide", home=WORK / ".assay")
        started = time.perf_counter()
        fresh.plan()
        plans.append(time.perf_counter() - started)
    figures["naive_plan_s"] = statistics.median(plans)
    import resource

    figures["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def _quantiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
    }


def load(days: int) -> dict[str, Any]:
    """The backfill alone, then with 20 requests/s on a real `assay ui`."""
    from datetime import date, timedelta

    first = date(2000, 1, 1)
    end = str(first + timedelta(days=days))
    folder = WORK / "load"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "chain.py").write_text(CHAIN.format(start=first, end=end))
    (folder / "pyproject.toml").write_text('[tool.assay]\nmodule = "chain"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}

    def backfill(home: str) -> float:
        started = time.perf_counter()
        subprocess.run(
            [str(ASSAY), "backfill", "start", "--home", home, "--from", str(first),
             "--to", str(date.fromisoformat(end) - timedelta(days=1))],
            cwd=folder, env=env, check=True, capture_output=True,
        )  # fmt: skip
        return time.perf_counter() - started

    alone = backfill(str(folder / "alone"))
    home = folder / "loaded"
    port = _free_port()
    server = subprocess.Popen(
        [str(ASSAY), "ui", "--home", str(home), "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    try:
        _wait_for(port)
        hammer = threading.Thread(target=_hammer, args=(port, stop, latencies, errors), daemon=True)
        hammer.start()
        loaded = backfill(str(home))
        stop.set()
        hammer.join(timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()
    return {
        "days": days,
        "alone_s": alone,
        "loaded_s": loaded,
        "requests": len(latencies) + len(errors),
        "errors": errors[:5],
        "error_count": len(errors),
        "latency": _quantiles(latencies) if latencies else {},
    }


def _hammer(port: int, stop: threading.Event, latencies: list[float], errors: list[str]) -> None:
    """RATE requests per second over every view, until `stop`."""
    urls = [u.format(asset="daily") for u in VIEWS]
    n = 0
    next_at = time.monotonic()
    while not stop.is_set():
        url = f"http://127.0.0.1:{port}{urls[n % len(urls)]}"
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                answer.read()
                if answer.status != 200:
                    errors.append(f"{url}: {answer.status}")
                else:
                    latencies.append(time.perf_counter() - started)
        except Exception as exc:  # an error of any kind is counted
            errors.append(f"{url}: {exc}")
        n += 1
        next_at += 1 / RATE
        time.sleep(max(0.0, next_at - time.monotonic()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"assay ui did not listen on {port}")


def report(figures: dict[str, Any], loaded: dict[str, Any]) -> None:
    naive = figures["naive_plan_s"]
    print(
        f"ui pages: {planner.LAYERS * planner.WIDTH} assets x {planner.DAYS} daily partitions; "
        f"first evaluation {figures['first_evaluation_s']:.2f} s, an incremental refresh "
        f"after one partition changed {figures['incremental_refresh_s'] * 1000:.0f} ms, "
        f"peak {figures['peak_mib']:.0f} MiB"
    )
    print(f"  baseline: project.plan() per request {naive * 1000:.0f} ms")
    for url, q in figures["pages"].items():
        verdict = "met" if q["p95"] <= PAGE_TARGET_S else "MISSED"
        print(
            f"  {url:<28} p50 {q['p50'] * 1000:6.1f} ms  p95 {q['p95'] * 1000:6.1f} ms "
            f"(target {PAGE_TARGET_S * 1000:.0f} ms: {verdict}; p95 / plan {q['p95'] / naive:.3f}x)"
        )
    ratio = loaded["loaded_s"] / loaded["alone_s"]
    latency = loaded["latency"]
    print(
        f"ui load: backfill of 3 assets x {loaded['days']} days alone {loaded['alone_s']:.1f} s, "
        f"with {RATE} requests/s on `assay ui` {loaded['loaded_s']:.1f} s: ratio {ratio:.3f}x "
        f"(target <= 1.05); {loaded['requests']:,} requests, {loaded['error_count']} errors"
        + (
            f", p50 {latency['p50'] * 1000:.0f} ms, p95 {latency['p95'] * 1000:.0f} ms"
            if latency
            else ""
        )
    )
    for error in loaded["errors"]:
        print(f"    {error}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "pages":
        print(json.dumps(pages()))
        return
    if argv and argv[0] == "populate":
        planner.populate(WORK)
        populate_history(WORK)
        return
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    planner.write_project(WORK)
    subprocess.run([sys.executable, __file__, "populate"], check=True)
    found = subprocess.run(
        [sys.executable, __file__, "pages"], check=True, capture_output=True, text=True
    )
    figures = json.loads(found.stdout.strip().splitlines()[-1])
    loaded = load(FULL_LOAD_DAYS if "--full" in argv else LOAD_DAYS)
    report(figures, loaded)


if __name__ == "__main__":
    main()
