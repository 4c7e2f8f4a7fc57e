"""The daemon's benchmarks (issue 17): `python bench/daemon.py [NAME ...] [options]`.

- `latency`: a real `assay daemon --clock-file FILE` on a project with 10
  schedules; the clock is moved across a tick of `* * * * *` once per sample, and
  the wall time is taken from that moment to the launched run's process start:
  its log `<home>/logs/<run id>.log` appearing (the launcher's shell opens it
  just before it execs Python: the closest of the three markers to "the process
  started"); also to the run's journal appearing (the run recorded itself:
  Python started, assay imported, the project loaded). Baseline:
  `assay.execution.launcher.launch` of the same command, measured the same way,
  interleaved with the daemon's samples. Each run ends before the next sample.
  Targets: median <= 1 s, p99 <= 2 s.
- `idle`: a real daemon with 100 schedules and 20 sensors (the default 30 s
  interval) on the system clock, none due while measured: CPU seconds of its
  process (/proc/PID/stat, reaped children included: the sensors' forks) over
  the wall seconds, after a warm-up; beside it, at the same moments, a daemon of
  a project with no schedules or sensors (the loop alone). Target: 2% of one core.
- `tick1000`: `Engine.evaluate_due()` over 1,000 schedules in this process, on a
  FixedClock: none due (next ticks known, and computed), and all due; also none
  due with 1,000 different crons, next ticks computed (schedules that share a
  cron and a cursor share one walk). Baselines: cronsim's next tick for each
  cron, bare; the same lines written with one fsync and with one fsync each.
  Target: 50 ms per tick.
- `coldstart`: bench/planner.py's 1,000 assets x 3,650 days (3.65M asset
  partitions in the state store, filled the same way) with 10 schedules and 5
  sensors: `assay daemon` process start to its first heartbeat in
  `<home>/daemon.json`, first start and restart. Baselines in the same run:
  `python -c 'import assay'`, `assay --help`, `assay list` and `assay schedule
  list`. Target: 3 s.
- `soak` (not run unless named): the daemon with 20 schedules and 5 sensors on
  the system clock, 4 concurrent `assay materialize` CLI loops and a reader
  timing `assay runs --limit 5`, for `--minutes M` (default 5): lock errors (a
  non-zero exit, or "locked" in the output), lost records (a launched or CLI run
  missing from `assay runs`), duplicate run keys, and the reader's latency, with
  the same reader on the quiet store as its baseline.

Options: `--samples N` (latency, default 30), `--seconds S` (idle, default 60),
`--repeat N` (tick1000 and coldstart, default 5 and 3), `--minutes M` (soak).
`python bench/daemon.py` runs all but the soak.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "daemon"
ASSAY = Path(sys.executable).parent / "assay"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT = ["latency", "idle", "tick1000", "coldstart"]


# --- processes, files, figures ---------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without assay's settings (each project says its own), and
    without PYTHONDONTWRITEBYTECODE (set here, it recompiles every module at each
    start, which no deployment does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "OPENLINEAGE"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env | extra


def fresh(folder: Path, source: str, module: str = "ops") -> Path:
    """An empty project folder with `source` as its module."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / f"{module}.py").write_text(source)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{folder.name}"\n[tool.assay]\nmodule = "{module}"\n'
    )
    return folder


def assay(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(ASSAY), *args], cwd=root, env=clean_env(), capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        raise AssertionError(f"assay {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return done


def timed(cmd: list[str], cwd: Path, *, check: bool = True) -> tuple[float, float, int, str]:
    """Wall and CPU seconds (its own and its reaped children's) of a whole process,
    its exit code and its output (stdout and stderr)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        cmd, cwd=cwd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if check and process.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: exit {process.returncode}\n{output}")
    return wall, usage.ru_utime + usage.ru_stime, process.returncode, output


def cpu_s(pid: int) -> float:
    """CPU seconds of a live process and of the children it reaped (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / CLK_TCK  # utime stime cutime cstime


def wait(predicate: Callable[[], Any], timeout_s: float, poll_s: float = 0.002) -> Any:
    """Poll until `predicate` returns something true; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached in {timeout_s:.0f} s")
        time.sleep(poll_s)


def listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (0..1), interpolated between the samples."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: list[float], unit: float = 1.0, fmt: str = "{:.3f}") -> str:
    """Median, p90, p99 and max of samples (in seconds, shown in `unit`)."""
    parts = [
        f"{label} {fmt.format(quantile(values, q) / unit)}"
        for label, q in (("median", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
    ]
    return ", ".join(parts)


def set_clock(path: Path, at: datetime) -> None:
    """Write the daemon's clock file whole (it must never read half an instant)."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(at.isoformat())
    os.replace(temporary, path)


def start_daemon(root: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    with (root / "daemon.log").open("ab") as log:
        return subprocess.Popen(
            [str(ASSAY), "daemon", *args],
            cwd=root,
            env=clean_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def heartbeat(home: Path) -> dict[str, Any] | None:
    try:
        found = json.loads((home / "daemon.json").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def wait_heartbeat(home: Path, pid: int, timeout_s: float = 120.0) -> dict[str, Any]:
    """The first heartbeat of the daemon with this pid (not an earlier one's file)."""

    def beat() -> dict[str, Any] | None:
        found = heartbeat(home)
        if found and found.get("pid") == pid and not found.get("stopped"):
            return found
        return None

    return dict(wait(beat, timeout_s, poll_s=0.005))


def stop_daemon(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        stop_daemon(process)


def processes_with(text: str) -> list[int]:
    """PIDs of this machine's processes with `text` in their command line."""
    needle = text.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                    found.append(int(entry.name))
    return found


def settle(home: Path, timeout_s: float = 600.0) -> None:
    """Wait until no process runs for this state home (the launched runs ended)."""
    wait(lambda: not processes_with(f"--home {home}"), timeout_s, poll_s=0.2)


def journal_records(home: Path, prefix: str = "daemon-") -> list[dict[str, Any]]:
    """The records of the daemon (or `tick-`) sessions' journals: open, done, archived
    alone (`done/*.jsonl.gz`) or in bundles (`done/bundle-*.jsonl.xz`); a journal
    found in several of those is read once."""
    import gzip

    from assay.state.bundles import bundles, journals

    journal, done = home / "journal", home / "journal" / "done"
    texts: dict[str, bytes] = {}
    for path in [*sorted(journal.glob(f"{prefix}*.jsonl")), *sorted(done.glob(f"{prefix}*.jsonl"))]:
        texts.setdefault(path.name, path.read_bytes())
    for path in sorted(done.glob(f"{prefix}*.jsonl.gz")):
        texts.setdefault(path.name.removesuffix(".gz"), gzip.decompress(path.read_bytes()))
    for bundle in bundles(done):
        for name, data in journals(bundle):
            if name.startswith(prefix):
                texts.setdefault(name, data)
    found = []
    for name in sorted(texts):
        for line in texts[name].decode().splitlines():
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
    return found


def runs_of(home: Path) -> dict[str, Any]:
    """Every recorded run by id (what `assay runs` lists)."""
    from assay.state.reader import StateReader

    return {run.run_id: run for run in StateReader(home).runs(limit=100_000)}


def project_config(root: Path) -> Any:
    from assay.config import resolve_config

    return resolve_config(cwd=root)


# --- latency ---------------------------------------------------------------------------

LATENCY_PROJECT = """
import polars as pl
from assay import DailyPartitions, Definitions, Schedule, asset

DAYS = DailyPartitions(start="2024-01-01", timezone="America/New_York")


@asset
def tiny() -> pl.DataFrame:
    return pl.DataFrame({"x": [1]})


@asset
def report() -> pl.DataFrame:
    return pl.DataFrame({"x": [1]})


@asset(partitions=DAYS)
def daily(context) -> pl.DataFrame:
    return pl.DataFrame({"day": [context.partition_key]})


defs = Definitions(
    assets=[tiny, report, daily],
    schedules=[
        Schedule("every_minute", "tiny", cron="* * * * *"),
        Schedule("nightly", "daily"),  # New York days close at 05:00 UTC: not measured
        *[Schedule(f"report_{h}", "report", cron=f"30 {h} * * 1-5") for h in range(6, 14)],
    ],
)
"""
LATENCY_START = datetime(2024, 3, 1, 0, 0, 30, tzinfo=UTC)


def latency(samples: int) -> None:
    from assay.execution.launcher import launch

    root = fresh(WORK / "latency", LATENCY_PROJECT)
    home = root / ".assay"
    clock = root / "clock"
    set_clock(clock, LATENCY_START)
    config = project_config(root)
    daemon_side: list[dict[str, Any]] = []
    launcher_side: list[dict[str, Any]] = []
    with running(start_daemon(root, "--clock-file", str(clock))) as daemon:
        beat = wait_heartbeat(home, daemon.pid)  # after the first evaluation
        cpu0, wall0 = cpu_s(daemon.pid), time.perf_counter()
        for i in range(1, samples + 1):
            at = LATENCY_START + timedelta(minutes=i)
            daemon_side.append(_daemon_sample(home, clock, at))
            command = ["materialize", "tiny", "--force", "--run-key", f"bench:launcher:{i}"]
            launcher_side.append(
                _launcher_sample(launch, config, [*command, "--at", at.isoformat()])
            )
        daemon_cpu, phase_s = cpu_s(daemon.pid) - cpu0, time.perf_counter() - wall0
    records = journal_records(home)
    evaluated = {
        r["tick_id"]: r["evaluated_at"]
        for r in records
        if r.get("type") == "tick" and r["requests"]
    }
    launched = {
        r["run_id"]: r
        for r in records
        if r.get("type") == "run_request" and r["status"] == "launched"
    }
    for sample in daemon_side:
        request = launched[sample["run_id"]]
        sample["recorded"] = evaluated[request["tick_id"]] - sample["written"]
        sample["launched"] = request["at"] - sample["written"]
    keys = [run.run_key for run in runs_of(home).values() if run.run_key]
    scheduled = [k for k in keys if k.startswith("schedule:every_minute:")]
    assert len(scheduled) == len(set(scheduled)) == samples, f"{len(scheduled)} scheduled runs"

    def column(side: list[dict[str, Any]], name: str) -> list[float]:
        return [float(s[name]) for s in side]

    print(
        f"latency: the clock moved across {samples} ticks of `* * * * *` "
        f"({beat['schedules']} schedules; each run ended before the next tick), seconds"
    )
    print(
        f"  daemon: tick -> run's process started (its log): {spread(column(daemon_side, 'log'))}"
    )
    print(
        f"  launcher alone -> the same:                    {spread(column(launcher_side, 'log'))}"
    )
    print(f"  daemon: tick -> the run's journal:  {spread(column(daemon_side, 'journal'))}")
    print(f"  launcher alone -> the same:        {spread(column(launcher_side, 'journal'))}")
    print(
        "  the daemon's stages (median): tick recorded "
        f"{quantile(column(daemon_side, 'recorded'), 0.5):.3f} s, `launched` recorded "
        f"{quantile(column(daemon_side, 'launched'), 0.5):.3f} s (launch() returned after "
        f"{quantile(column(launcher_side, 'returned'), 0.5):.3f} s for the launcher alone)"
    )
    for name in ("log", "journal"):
        ratio = quantile(column(daemon_side, name), 0.5) / quantile(
            column(launcher_side, name), 0.5
        )
        print(f"  median ratio to the launcher alone, to its {name}: {ratio:.2f}x")
    logs = column(daemon_side, "log")
    met = quantile(logs, 0.5) <= 1.0 and quantile(logs, 0.99) <= 2.0
    print(
        f"  the daemon's CPU: {daemon_cpu:.2f} s in {phase_s:.0f} s "
        f"({daemon_cpu / samples * 1000:.0f} ms per tick, idle time included)"
    )
    print(f"  target median <= 1 s, p99 <= 2 s to the process start: {'met' if met else 'MISSED'}")


def _daemon_sample(home: Path, clock: Path, at: datetime) -> dict[str, Any]:
    logs = home / "logs"
    before = listing(logs)
    set_clock(clock, at)
    written = time.time()
    new = wait(lambda: listing(logs) - before, 60)
    log_s = time.time() - written
    run_id = Path(sorted(new)[0]).stem
    journal_s = _journal_seen(home, run_id) - written
    _wait_done(home, run_id)
    return {"run_id": run_id, "written": written, "log": log_s, "journal": journal_s}


def _launcher_sample(launch: Callable[..., Any], config: Any, command: list[str]) -> dict[str, Any]:
    started = time.time()
    run = launch(config, command)
    returned = time.time() - started
    wait(run.log.exists, 60)
    log_s = time.time() - started
    journal_s = _journal_seen(config.home, run.run_id) - started
    _wait_done(config.home, run.run_id)
    return {"log": log_s, "journal": journal_s, "returned": returned}


def _journal_seen(home: Path, run_id: str) -> float:
    """When the run's journal is seen, open or finished (as the engine sees it)."""
    from assay.daemon.launching import has_started

    wait(lambda: has_started(home / "journal", run_id), 120)
    return time.time()


def _wait_done(home: Path, run_id: str) -> None:
    """Until the run finished (its journal, seen open, left the journal folder: done,
    archived or bundled) and its process ended (it holds its claims until then: the
    next tick's run would be skipped as computed elsewhere)."""
    wait(lambda: not (home / "journal" / f"{run_id}.jsonl").exists(), 300, poll_s=0.02)
    wait(lambda: not processes_with(run_id), 300, poll_s=0.02)


# --- idle ------------------------------------------------------------------------------

EMPTY_PROJECT = """
import polars as pl
from assay import asset


@asset
def flat_0() -> pl.DataFrame:
    return pl.DataFrame({"x": [1]})
"""


def idle_project(now: datetime, schedules: int = 100, sensors: int = 20) -> str:
    """100 schedules and 20 sensors, none of which fires within the next 20 minutes
    (crons and windows placed away from `now`)."""
    zones = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney"]
    quiet_zones = [z for z in zones if 3 <= now.astimezone(ZoneInfo(z)).hour <= 21]
    lines = [
        "from datetime import timedelta",
        "from pathlib import Path",
        "import polars as pl",
        "from assay import (DailyPartitions, Definitions, Schedule, SkipReason, asset,",
        "                   file_sensor, run_status_sensor, sensor)",
        "",
        "assets, schedules, sensors = [], [], []",
    ]
    for i in range(10):
        lines += [
            "",
            "@asset",
            f"def flat_{i}() -> pl.DataFrame:",
            "    return pl.DataFrame({'x': [1]})",
            f"assets.append(flat_{i})",
        ]
    for z, zone in enumerate(quiet_zones[:4]):
        lines += [
            "",
            f"@asset(partitions=DailyPartitions(start='2024-01-01', timezone={zone!r}))",
            f"def daily_{z}(context) -> pl.DataFrame:",
            "    return pl.DataFrame({'day': [context.partition_key]})",
            f"assets.append(daily_{z})",
        ]
    away = (now.minute + 30) % 60
    for i in range(schedules):
        flat = f"flat_{i % 10}"
        zone = zones[i % len(zones)]
        kind = i % 5
        if kind == 0:  # hourly, half an hour away
            cron, zone = f"{(away + i // 5 % 10) % 60} * * * *", "UTC"
        elif kind in (1, 2):  # daily, hours away in its zone
            hour = (now.astimezone(ZoneInfo(zone)).hour + 3 + i % 18) % 24
            cron = f"{i % 60} {hour} * * *"
        elif kind == 3:  # weekdays
            hour = (now.astimezone(ZoneInfo(zone)).hour + 4 + i % 16) % 24
            cron = f"{i % 60} {hour} * * 1-5"
        else:  # when a day of a zone closes (none is near its midnight)
            lines.append(f"schedules.append(Schedule('s{i}', 'daily_{i % len(quiet_zones[:4])}'))")
            continue
        lines.append(
            f"schedules.append(Schedule('s{i}', {flat!r}, cron={cron!r}, timezone={zone!r}))"
        )
    for i in range(sensors):
        if i < 14:
            lines += [
                "",
                f"@sensor(selection='flat_{i % 10}')",
                f"def waits_{i}(context):",
                f"    if Path('signals/waits_{i}').exists():",
                "        return None",
                "    return SkipReason('no signal')",
                f"sensors.append(waits_{i})",
            ]
        elif i < 18:
            glob = f"incoming_{i}/orders_*.csv"
            lines.append(
                f"sensors.append(file_sensor('files_{i}', glob={glob!r}, selection='flat_0'))"
            )
        else:
            lines.append(
                f"sensors.append(run_status_sensor('failures_{i}', status='failed', "
                "selection='flat_1'))"
            )
    lines.append("defs = Definitions(assets=assets, schedules=schedules, sensors=sensors)")
    return "\n".join(lines) + "\n"


WARMUP_S = 5.0


def idle(seconds: float) -> None:
    if seconds > 20 * 60:
        raise SystemExit("idle: at most 1,200 seconds (its crons are placed 20+ minutes away)")
    roots = {
        "busy": fresh(WORK / "idle", idle_project(datetime.now(UTC))),
        "empty": fresh(WORK / "idle_empty", EMPTY_PROJECT),
    }
    for root in roots.values():
        assay(root, "materialize", "flat_0")  # a state store, as a deployed project has
    daemons = {name: start_daemon(root) for name, root in roots.items()}
    try:
        for name, process in daemons.items():
            wait_heartbeat(roots[name] / ".assay", process.pid)
        time.sleep(WARMUP_S)
        begin = {name: cpu_s(p.pid) for name, p in daemons.items()}
        wall0, at0 = time.perf_counter(), time.time()
        time.sleep(seconds)
        end = {name: cpu_s(p.pid) for name, p in daemons.items()}
        wall, at1 = time.perf_counter() - wall0, time.time()
        alive = all(p.poll() is None for p in daemons.values())
    finally:
        for process in daemons.values():
            stop_daemon(process)
    assert alive, "a daemon died while measured: see its daemon.log"
    records = journal_records(roots["busy"] / ".assay")
    ticks = [r for r in records if r.get("type") == "tick" and at0 <= r["evaluated_at"] <= at1]
    sensor_ticks = sum(r["kind"] != "schedule" for r in ticks)
    launched = sum(r.get("type") == "run_request" and r["status"] == "launched" for r in records)
    share = {name: (end[name] - begin[name]) / wall for name in daemons}
    print(
        f"idle: a daemon with 100 schedules and 20 sensors (30 s interval), system clock, "
        f"{wall:.0f} s measured after a {WARMUP_S:.0f} s warm-up"
    )
    print(
        f"  its CPU: {end['busy'] - begin['busy']:.2f} s in {wall:.1f} s = "
        f"{share['busy'] * 100:.2f}% of one core ({sensor_ticks} sensor evaluations, "
        f"{len(ticks) - sensor_ticks} schedule ticks recorded, {launched} runs launched)"
    )
    print(
        f"  a daemon with no schedule or sensor, at the same moments: "
        f"{end['empty'] - begin['empty']:.2f} s = {share['empty'] * 100:.2f}% "
        f"(the schedules and sensors add {(share['busy'] - share['empty']) * 100:.2f} points)"
    )
    print(f"  target 2% of one core: {'met' if share['busy'] <= 0.02 else 'MISSED'}")


# --- tick1000 --------------------------------------------------------------------------

TICK_CRONS = [
    ("* * * * *", "UTC"),
    ("0 * * * *", "America/New_York"),
    ("0 1 * * *", "Europe/Berlin"),
]
TICK_PROJECT = f"""
import polars as pl
from assay import DailyPartitions, Definitions, Schedule, asset

DAYS = DailyPartitions(start="2024-01-01")
CRONS = {TICK_CRONS!r}


@asset
def flat() -> pl.DataFrame:
    return pl.DataFrame({{"x": [1]}})


@asset(partitions=DAYS)
def daily(context) -> pl.DataFrame:
    return pl.DataFrame({{"day": [context.partition_key]}})


# 250 each: every minute (UTC), hourly in New York, daily at 01:00 in Berlin, and
# UTC days closing: all tick at 2024-03-02T00:00Z
schedules = [
    Schedule(f"s{{i}}", "daily") if i % 4 == 3
    else Schedule(f"s{{i}}", "flat", cron=CRONS[i % 4][0], timezone=CRONS[i % 4][1])
    for i in range(1000)
]
defs = Definitions(assets=[flat, daily], schedules=schedules)

# 1,000 different crons (schedules that share a cron and a cursor share one walk):
# daily at each minute of a day's first 17 hours, by the wall clock, and every 1 to 17
# hours at a minute, in four zones
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata"]
distinct = [
    Schedule(
        f"d{{i}}",
        "flat",
        cron=f"{{i % 60}} {{i // 60}} * * *" if i % 2 else f"{{i % 60}} */{{1 + i // 60}} * * *",
        timezone=ZONES[i % 4],
    )
    for i in range(1000)
]
"""
TICK_BEFORE = datetime(2024, 3, 1, 23, 59, 30, tzinfo=UTC)
TICK_AFTER = datetime(2024, 3, 2, 0, 0, 30, tzinfo=UTC)


def tick1000(repeat: int) -> None:
    import assay
    from assay.daemon.clock import FixedClock
    from assay.daemon.engine import Engine

    root = fresh(WORK / "tick1000", TICK_PROJECT, module="ops1000")
    with contextlib.chdir(root):
        project = assay.load(module="ops1000", home=root / ".assay")
    module = sys.modules["ops1000"]
    distinct = assay.Definitions(assets=project.definitions.assets, schedules=module.distinct)
    assert len({s.cron for s in module.distinct}) == 1000
    figures: dict[str, list[tuple[float, float]]] = {
        "known": [],
        "computed": [],
        "distinct": [],
        "all": [],
        "after": [],
    }

    def measure(engine: Engine, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        engine.evaluate_due()
        figures[name].append((time.perf_counter() - wall, time.process_time() - cpu))

    for n in range(repeat):
        clock = FixedClock(TICK_BEFORE)
        engine = Engine(
            project.config, project.definitions, clock=clock, session=f"bench-{uuid.uuid4().hex}"
        )
        try:
            engine.evaluate_due()  # the first evaluation records where each one's ticks start
            clock.at = TICK_BEFORE + timedelta(seconds=10)
            measure(engine, "computed")  # none due; each one's next tick computed
            measure(engine, "known")  # none due; next ticks known
            clock.at = TICK_AFTER
            measure(engine, "all")
            assert len(engine.queue) == 1000, f"{len(engine.queue)} runs queued, repeat {n}"
            clock.at = TICK_AFTER + timedelta(seconds=1)
            measure(engine, "after")  # none due, the next ticks of those that ticked
        finally:
            engine.close(clean=True)
        clock = FixedClock(TICK_BEFORE)
        engine = Engine(project.config, distinct, clock=clock, session=f"bench-{uuid.uuid4().hex}")
        try:
            engine.evaluate_due()
            clock.at = TICK_BEFORE + timedelta(seconds=10)
            measure(engine, "distinct")
            assert not engine.queue, f"{len(engine.queue)} runs queued, repeat {n}"
        finally:
            engine.close(clean=True)
    bare_s = _bare_next_ticks(repeat)
    one_s, each_s = _fsynced_lines(root / ".assay", 1000)

    def shown(name: str) -> str:
        wall = statistics.median(w for w, _ in figures[name]) * 1000
        cpu = statistics.median(c for _, c in figures[name]) * 1000
        return f"{wall:,.1f} ms (CPU {cpu:,.1f} ms)"

    print(
        "tick1000: Engine.evaluate_due() over 1,000 schedules (every minute, hourly in New "
        f"York, daily in Berlin, UTC days: 250 each), median of {repeat}"
    )
    print(f"  none due, next ticks known:    {shown('known')}")
    print(f"  none due, next ticks computed: {shown('computed')}  (after a start or a reload)")
    print(f"  the same, 1,000 different crons: {shown('distinct')}")
    print(f"  all due, 1,000 runs queued:    {shown('all')}")
    print(f"  the pass after it (none due):  {shown('after')}")
    print(
        f"  baselines: cronsim's next tick of each, bare: {bare_s * 1000:,.1f} ms; 1,000 tick "
        f"lines in one fsynced write: {one_s * 1000:,.1f} ms, with an fsync each: "
        f"{each_s * 1000:,.0f} ms"
    )
    verdicts = []
    for case, names in (
        ("none due", ["known", "computed", "distinct", "after"]),
        ("all due", ["all"]),
    ):
        worst = max(statistics.median(w for w, _ in figures[n]) for n in names)
        verdicts.append(
            f"{case} {'met' if worst <= 0.05 else 'MISSED'} ({worst * 1000:,.1f} ms at most)"
        )
    print(f"  target 50 ms per tick: {', '.join(verdicts)}")


def _bare_next_ticks(repeat: int) -> float:
    """cronsim's next tick after TICK_BEFORE for each of the 1,000 schedules (a day's
    end for the windows), median of `repeat`."""
    from cronsim import CronSim

    def once() -> float:
        started = time.perf_counter()
        for i in range(1000):
            if i % 4 == 3:
                continue
            expression, zone = TICK_CRONS[i % 4]
            wall = TICK_BEFORE.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
            next(iter(CronSim(expression, wall)))
        return time.perf_counter() - started

    return statistics.median(once() for _ in range(repeat))


def _fsynced_lines(folder: Path, count: int) -> tuple[float, float]:
    """Seconds to write `count` tick-sized JSON lines with one fsync, and with one each."""
    line = (
        json.dumps({"type": "tick", "tick_id": uuid.uuid4().hex[:16], "name": "s1", "x": "y" * 500})
        + "\n"
    ).encode()
    path = folder / "bench-fsync.jsonl"
    times = []
    for each in (False, True):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        started = time.perf_counter()
        for _ in range(count):
            os.write(fd, line)
            if each:
                os.fsync(fd)
        os.fsync(fd)
        times.append(time.perf_counter() - started)
        os.close(fd)
    path.unlink()
    return times[0], times[1]


# --- coldstart -------------------------------------------------------------------------

COLD_SCHEDULES = """

from datetime import timedelta

from assay import Definitions, Schedule, SkipReason, sensor


@sensor(selection="a0_0", interval=timedelta(seconds=30))
def quiet(context):
    return SkipReason("nothing new")


defs = Definitions(
    assets=[v for k, v in list(globals().items()) if k[:1] == "a" and k[1:2].isdigit()],
    schedules=[
        *[Schedule(f"layer_{n}", f"a{n}_0", cron="0 6 * * *") for n in range(5)],
        *[Schedule(f"report_{n}", f"a9_{n}", cron=f"{n} 7 * * 1-5") for n in range(5)],
    ],
    sensors=[quiet] + [
        sensor(selection=f"a1_{n}", name=f"quiet_{n}")(quiet.fn) for n in range(4)
    ],
)
"""


def populate_coldstart() -> None:
    """The planner benchmark's project and store, in this benchmark's folder, with
    schedules and sensors added (run in a process of its own)."""
    import planner

    planner.WORK = WORK / "coldstart"
    shutil.rmtree(planner.WORK, ignore_errors=True)
    planner.WORK.mkdir(parents=True)
    planner.write_project()
    with (planner.WORK / "wide.py").open("a") as module:
        module.write(COLD_SCHEDULES)
    planner.populate()


def coldstart(repeat: int) -> None:
    root = WORK / "coldstart"
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "_populate"], check=True, env=clean_env())
    print(f"  (filled in {time.perf_counter() - started:.0f} s)")
    home = root / ".assay"
    backup = root / "backup.duckdb"
    shutil.copy(home / "assay.duckdb", backup)
    baselines = {
        "python -c 'import assay'": [sys.executable, "-c", "import assay"],
        "assay --help": [str(ASSAY), "--help"],
        "assay list": [str(ASSAY), "list"],
        "assay schedule list": [str(ASSAY), "schedule", "list"],
    }
    figures: dict[str, list[tuple[float, float]]] = {
        **{name: [] for name in baselines},
        "first": [],
        "restart": [],
    }
    for _ in range(repeat):
        for what in ("first", "restart"):
            if what == "first":  # the store as filled, nothing of a daemon in the home
                shutil.copy(backup, home / "assay.duckdb")
                for name in ("journal", "logs", "run_keys"):
                    shutil.rmtree(home / name, ignore_errors=True)
                (home / "daemon.json").unlink(missing_ok=True)
            figures[what].append(_start_to_heartbeat(root))
        for name, cmd in baselines.items():
            figures[name].append(timed(cmd, root)[:2])

    def shown(name: str) -> str:
        wall = statistics.median(w for w, _ in figures[name])
        cpu = statistics.median(c for _, c in figures[name])
        return f"{wall:.2f} s (CPU {cpu:.2f} s)"

    print(
        "coldstart: 1,000 assets, 3.65M asset partitions in the store, 10 schedules and 5 "
        f"sensors; process start to first heartbeat, median of {repeat}"
    )
    for name in baselines:
        print(f"  {name + ':':28} {shown(name)}")
    listed = statistics.median(w for w, _ in figures["assay list"])
    for what, label in (("first", "daemon, first start"), ("restart", "daemon, restart")):
        wall = statistics.median(w for w, _ in figures[what])
        print(f"  {label + ':':28} {shown(what)}, {wall / listed:.2f}x assay list")
    worst = max(statistics.median(w for w, _ in figures[n]) for n in ("first", "restart"))
    print(f"  target 3 s: {'met' if worst <= 3.0 else 'MISSED'}")


def _start_to_heartbeat(root: Path) -> tuple[float, float]:
    started = time.perf_counter()
    with running(start_daemon(root)) as daemon:
        wait_heartbeat(root / ".assay", daemon.pid, timeout_s=300)
        wall = time.perf_counter() - started
        cpu = cpu_s(daemon.pid)
    return wall, cpu


# --- soak ------------------------------------------------------------------------------

SOAK_PROJECT = """
from datetime import timedelta

import polars as pl
from assay import (
    DailyPartitions, Definitions, RunRequest, Schedule, asset, file_sensor, run_status_sensor,
    sensor,
)

DAYS = DailyPartitions(start="2024-01-01")
assets = []


def flat(name):
    def compute() -> pl.DataFrame:
        return pl.DataFrame({"x": [1]})

    compute.__name__ = name
    return asset(name=name)(compute)


for i in range(20):
    assets.append(flat(f"scheduled_{i}"))
for i in range(4):
    assets.append(flat(f"cli_{i}"))
for i in range(3):
    assets.append(flat(f"sensed_{i}"))


@asset(partitions=DAYS)
def arrivals(context) -> pl.DataFrame:
    return pl.DataFrame({"day": [context.partition_key]})


def counting(n):
    @sensor(selection=f"sensed_{n}", interval=timedelta(seconds=30), name=f"counts_{n}")
    def counts(context):
        count = int(context.cursor or 0) + 1
        context.update_cursor(str(count))
        return RunRequest(run_key=f"call-{count}")

    return counts


CRONS = ["* * * * *"] * 5 + ["*/2 * * * *"] * 5 + ["*/5 * * * *"] * 10
defs = Definitions(
    assets=[*assets, arrivals],
    schedules=[Schedule(f"s{i}", f"scheduled_{i}", cron=c) for i, c in enumerate(CRONS)],
    sensors=[
        *[counting(n) for n in range(3)],
        file_sensor("files", glob="incoming/arrivals_*.csv", selection="arrivals",
                    interval=timedelta(seconds=10)),
        run_status_sensor("failures", status="failed", selection="cli_0"),
    ],
)
"""


def soak(minutes: float) -> None:
    root = fresh(WORK / "soak", SOAK_PROJECT)
    home = root / ".assay"
    assay(root, "materialize", "cli_0")  # a state store
    quiet = [timed([str(ASSAY), "runs", "--limit", "5"], root)[:2] for _ in range(10)]
    alone = _soak_phase(root, minutes * 60, daemon=False)
    soaked = _soak_phase(root, minutes * 60, daemon=True)
    settle(home)
    records = journal_records(home)
    requests: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("type") == "run_request":
            requests[record["run_id"]] = record
    launched = [r for r in requests.values() if r["status"] == "launched"]
    statuses = {
        s: sum(r["status"] == s for r in requests.values())
        for s in {r["status"] for r in requests.values()}
    }
    ticks = {r["tick_id"]: r for r in records if r.get("type") == "tick"}
    late = [r["at"] - ticks[r["tick_id"]]["tick_at"] for r in launched if r["name"][:1] == "s"]
    runs = runs_of(home)
    cli = alone["cli"] + soaked["cli"]
    lost = [r["run_id"] for r in launched if r["run_id"] not in runs]
    lost += [c["run_id"] for c in cli if c["run_id"] not in runs]
    keys = [run.run_key for run in runs.values() if run.run_key]
    duplicates = len(keys) - len(set(keys))
    failed = [r for r in runs.values() if str(r.status) != "succeeded"]
    problems = alone["problems"] + soaked["problems"]
    print(
        f"soak: 4 `assay materialize` loops and a reader (`assay runs --limit 5` every "
        f"0.5 s), {minutes:g} min without a daemon, then {minutes:g} min with one (20 "
        "schedules, 5 sensors, system clock)"
    )
    for label, phase in (("without the daemon", alone), ("with the daemon   ", soaked)):
        walls = [w for w, _ in phase["readers"]]
        print(
            f"  {label}: {len(phase['cli'])} CLI runs, median "
            f"{quantile([c['s'] for c in phase['cli']], 0.5):.2f} s (CPU "
            f"{quantile([c['cpu'] for c in phase['cli']], 0.5):.2f} s); reader "
            f"{spread(walls, fmt='{:.2f}')} s (CPU median "
            f"{quantile([c for _, c in phase['readers']], 0.5):.2f} s)"
        )
    print(
        f"  the reader on the quiet store before: median "
        f"{quantile([w for w, _ in quiet], 0.5):.2f} s (CPU "
        f"{quantile([c for _, c in quiet], 0.5):.2f} s)"
    )
    print(
        f"  the daemon: {len(launched)} runs launched (requests: {statuses}), CPU "
        f"{soaked['daemon_cpu']:.1f} s; a schedule's tick to its launch: "
        f"{spread(late, fmt='{:.2f}')} s; heartbeats at most {soaked['beat_gap']:.1f} s apart"
    )
    print(
        f"  lock errors: {len(problems)}; lost records: {len(lost)} of "
        f"{len(launched) + len(cli)}; duplicate run keys: {duplicates}; runs not succeeded: "
        f"{len(failed)}"
    )
    for problem in (problems + [f"lost: {r}" for r in lost])[:10]:
        print(f"    {problem}")
    for run in failed[:5]:
        print(f"    run {run.run_id[:8]} ({run.run_key or 'CLI'}): {run.status}")
    if problems or lost or duplicates:
        raise SystemExit(1)


def _soak_phase(root: Path, seconds: float, *, daemon: bool) -> dict[str, Any]:
    """4 CLI materialize loops and a reader for `seconds`, with a daemon or without."""
    home = root / ".assay"
    stop = threading.Event()
    found: dict[str, Any] = {"cli": [], "readers": [], "problems": [], "beat_gap": 0.0}

    def materialize_loop(n: int) -> None:
        while not stop.is_set():
            run_id = str(uuid.uuid4())
            cmd = [str(ASSAY), "materialize", f"cli_{n}", "--force", "--run-id", run_id]
            wall, cpu, code, output = timed(cmd, root, check=False)
            found["cli"].append({"run_id": run_id, "s": wall, "cpu": cpu})
            if code != 0 or "locked" in output.lower():
                found["problems"].append(f"materialize cli_{n}: exit {code}: {output[-300:]}")

    def reader_loop() -> None:
        while not stop.is_set():
            wall, cpu, code, output = timed([str(ASSAY), "runs", "--limit", "5"], root, check=False)
            found["readers"].append((wall, cpu))
            if code != 0 or "locked" in output.lower():
                found["problems"].append(f"assay runs: exit {code}: {output[-300:]}")
            stop.wait(0.5)

    def file_loop() -> None:
        (root / "incoming").mkdir(exist_ok=True)
        day = datetime(2024, 1, 1, tzinfo=UTC)
        while not stop.wait(20):
            (root / "incoming" / f"arrivals_{day:%Y-%m-%d}.csv").write_text("day\n")
            day += timedelta(days=1)

    def beat_loop() -> None:
        last = None
        while not stop.wait(0.25):
            beat = heartbeat(home)
            if beat and not beat.get("stopped"):
                at = float(beat["heartbeat_at"])
                if last is not None:
                    found["beat_gap"] = max(found["beat_gap"], at - last, time.time() - at)
                last = at

    threads = [threading.Thread(target=materialize_loop, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=reader_loop))
    if daemon:
        threads += [threading.Thread(target=file_loop), threading.Thread(target=beat_loop)]
    with contextlib.ExitStack() as stack:
        if daemon:
            process = stack.enter_context(running(start_daemon(root)))
            wait_heartbeat(home, process.pid)
            cpu0 = cpu_s(process.pid)
        for thread in threads:
            thread.start()
        try:
            stop.wait(seconds)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        if daemon:
            found["daemon_cpu"] = cpu_s(process.pid) - cpu0
            if process.poll() is not None:
                found["problems"].append(f"the daemon exited with {process.returncode}")
    return found


# --- the command -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    options = {"--samples": 30.0, "--seconds": 60.0, "--minutes": 5.0}
    repeat: int | None = None
    names = []
    while args:
        arg = args.pop(0)
        if arg in options:
            options[arg] = float(args.pop(0))
        elif arg == "--repeat":
            repeat = int(args.pop(0))
        else:
            names.append(arg)
    for variable in [v for v in os.environ if v not in clean_env()]:
        del os.environ[variable]  # the launcher baseline passes this environment on
    for name in names or DEFAULT:
        if name == "latency":
            latency(int(options["--samples"]))
        elif name == "idle":
            idle(options["--seconds"])
        elif name == "tick1000":
            tick1000(repeat or 5)
        elif name == "coldstart":
            coldstart(repeat or 3)
        elif name == "soak":
            soak(options["--minutes"])
        else:
            raise SystemExit(f"unknown benchmark {name!r}: {', '.join([*DEFAULT, 'soak'])}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_populate"]:
        populate_coldstart()
    else:
        main()
