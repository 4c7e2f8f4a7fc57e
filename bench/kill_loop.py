"""kill -9 the coordinator of backfills, and of their resumes, at random moments, on
the in-process and the multiprocess executors; after each kill, and at the end,
check what must hold (`python bench/kill_loop.py [KILLS]`, default 50):

- every command still answers, and no backfill says `running` once its driver is dead;
- no temporary file is where a glob over an asset's storage finds it;
- once resumed to the end: every asset partition has exactly one current
  materialization, its file exists and holds that data version, every backfill
  says `completed`, and `assay plan` is empty.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work" / "kill_loop"
ASSAY = Path(sys.executable).parent / "assay"
DAYS = 60
PROJECT = """
import os, time
import polars as pl
from assay import AssetIn, DailyPartitions, TimeWindowMapping, asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-03-01")
PAUSE = float(os.environ.get("PAUSE", "0.01"))

@asset(partitions=DAYS)
def raw(context) -> pl.DataFrame:
    time.sleep(PAUSE)
    day = context.partition_key
    return pl.DataFrame({"day": [day] * 50, "v": list(range(50))})

@asset(partitions=DAYS)
def cleaned(raw: pl.DataFrame) -> pl.DataFrame:
    time.sleep(PAUSE)
    return raw.filter(pl.col("v") % 2 == 0)

WINDOW = AssetIn(partition_mapping=TimeWindowMapping(start_offset=-2))

@asset(partitions=DAYS, ins={"cleaned": WINDOW})
def rolling(cleaned: pl.DataFrame) -> pl.DataFrame:
    return cleaned.group_by("day").agg(pl.col("v").sum()).sort("day")

@asset
def total(rolling: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"v": [rolling["v"].sum()]})
"""


def assay(*args: str, check: bool = True) -> str:
    done = subprocess.run(
        [str(ASSAY), *args], cwd=WORK, capture_output=True, text=True, timeout=300, env=_env()
    )
    if check and done.returncode not in (0, 1):
        raise AssertionError(f"assay {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return done.stdout


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "OPENLINEAGE"))}
    return env | {"PAUSE": "0.01"}


def check_after_kill() -> list[str]:
    """What must hold at any moment: answers, no live-looking dead backfill, no temp file."""
    problems = []
    for backfill in json.loads(assay("backfill", "list", "--json", "--limit", "1000")):
        if backfill["status"] in ("running", "canceling"):
            problems.append(f"backfill {backfill['backfill_id'][:8]} says running after its kill")
    storage = WORK / ".assay" / "storage"
    for asset in ("raw", "cleaned", "rolling"):
        for found in (storage / asset).glob("*/*"):
            if found.name != "data.parquet":
                problems.append(f"a glob over {asset}'s storage finds {found}")
        for found in (storage / asset).glob("*"):
            if not found.name.startswith("partition="):
                problems.append(f"a glob over {asset}'s storage finds {found}")
    return problems


def check_at_end() -> list[str]:
    import duckdb
    import xxhash

    problems = []
    with duckdb.connect(str(WORK / ".assay" / "assay.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT a.asset_key, a.partition_key, a.data_version, m.location, "
            "count(*) OVER (PARTITION BY a.asset_key, a.partition_key) AS n "
            "FROM asset_partitions a JOIN materializations m USING (materialization_id)"
        ).fetchall()
    if len(rows) != 3 * DAYS + 1:
        problems.append(f"{len(rows)} current asset partitions, expected {3 * DAYS + 1}")
    for asset, partition, version, location, n in rows:
        if n != 1:
            problems.append(f"{asset}[{partition}] is current {n} times")
        path = Path(location)
        if not path.is_file():
            problems.append(f"{asset}[{partition}]: {path} is missing")
        elif xxhash.xxh3_128_hexdigest(path.read_bytes()) != version:
            problems.append(f"{asset}[{partition}]: the file is not its current version")
    for backfill in json.loads(assay("backfill", "list", "--json", "--limit", "1000")):
        if backfill["status"] != "completed":
            problems.append(f"backfill {backfill['backfill_id'][:8]} is {backfill['status']}")
    if json.loads(assay("plan", "--json"))["steps"]:
        problems.append("assay plan is not empty")
    return problems


def latest_unfinished() -> str | None:
    for backfill in json.loads(assay("backfill", "list", "--json", "--limit", "1000")):
        if backfill["status"] in ("failed", "interrupted", "canceled"):
            return str(backfill["backfill_id"])
    return None


def main(kills: int = 50) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "pipeline.py").write_text(PROJECT)
    (WORK / "pyproject.toml").write_text(
        '[project]\nname = "kills"\n[tool.assay]\nmodule = "pipeline"\n'
    )
    rng = random.Random(14)
    problems: list[str] = []
    counts = {"in_process": 0, "multiprocess": 0, "start": 0, "resume": 0, "killed": 0}
    started = time.perf_counter()
    for _ in range(kills):
        executor = rng.choice(["in_process", "multiprocess"])
        pending = latest_unfinished()
        if pending and rng.random() < 0.7:
            args = ["backfill", "resume", pending[:8], "--executor", executor]
            counts["resume"] += 1
        else:
            first = rng.randrange(DAYS - 10)
            last = rng.randrange(first, DAYS)
            args = [
                "backfill", "start", "--force", "--executor", executor, "--workers", "2",
                "--from", str(date(2024, 1, 1) + timedelta(days=first)),
                "--to", str(date(2024, 1, 1) + timedelta(days=last)),
            ]  # fmt: skip
            counts["start"] += 1
        counts[executor] += 1
        process = subprocess.Popen(
            [str(ASSAY), *args], cwd=WORK, env=_env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.4, 2.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            counts["killed"] += 1
        process.wait()
        time.sleep(0.6)  # workers of a killed pool notice their parent is gone
        problems += check_after_kill()
    # what no backfill covered first: a backfill's range can read upstream partitions
    # outside it (a 7-day window) that only a killed backfill was to compute, and its
    # resume fails on them (one line naming them) until they exist
    assay("materialize")
    for _ in range(20):  # each resume finishes its backfill now; bounded all the same
        pending = latest_unfinished()
        if pending is None:
            break
        assay("backfill", "resume", pending[:8])
    else:
        problems.append("backfills still unfinished after 20 resumes")
    assay("materialize")
    problems += check_at_end()
    took = time.perf_counter() - started
    print(
        f"{kills} runs, {counts['killed']} killed with kill -9 mid-run "
        f"({counts['start']} backfills started, {counts['resume']} resumes; "
        f"{counts['in_process']} in-process, {counts['multiprocess']} multiprocess) "
        f"in {took:.0f} s: {len(problems)} problems"
    )
    for problem in problems[:20]:
        print(f"  {problem}")
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
