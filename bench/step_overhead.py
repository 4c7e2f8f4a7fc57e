"""What assay itself costs per step, with storage taken out: a backfill of 3
chained daily assets whose functions do next to nothing, kept in memory
(`InMemoryIO`), against a bare loop calling the same functions.

Everything else a step does is there: planning, the task graph, dispatch, the
step's records and lineage in the journal, the progress lines, the final index.
Runs as whole processes on a fresh state, interleaved, at two lengths (100 and
366 days); each run's CPU time (user + system) is what is compared, as it is far
steadier than wall time on a shared machine. Printed: the whole run per step
(fixed costs spread over the steps) and the *marginal* cost of a step (what 266
more days add, divided by the 798 more steps), each over the bare loop's.
`--repeat N --days A,B` runs it quicker (a test does, at a tiny size).
`ASSAY_SRC=<a src folder>` runs another copy of assay's source (a before/after).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

REPEAT = 5
LENGTHS = (100, 366)  # days
WORK = Path(__file__).resolve().parent / ".work" / "step_overhead"
WORK = Path(os.environ.get("STEP_OVERHEAD_WORK") or WORK)
ASSAY = Path(sys.executable).parent / "assay"
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    **({"PYTHONPATH": os.environ["ASSAY_SRC"]} if "ASSAY_SRC" in os.environ else {}),
}

PROJECT = """
from assay import DailyPartitions, Definitions, asset
from assay.io.memory import InMemoryIO

DAYS = DailyPartitions(start="2024-01-01", end="2025-01-01")


@asset(partitions=DAYS)
def raw() -> int:
    return 1


@asset(partitions=DAYS)
def cleaned(raw: list[int]) -> int:
    return raw[0] + 1


@asset(partitions=DAYS)
def daily(cleaned: list[int]) -> int:
    return cleaned[0] + 1


defs = Definitions(assets=[raw, cleaned, daily], io=InMemoryIO())
"""

BARE = """
import sys

import steps

for day in range(int(sys.argv[1])):
    raw = steps.raw()
    cleaned = steps.cleaned([raw])
    steps.daily([cleaned])
"""


def write_project() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    (WORK / "pyproject.toml").write_text('[tool.assay]\nmodule = "steps"\n')
    (WORK / "steps.py").write_text(PROJECT)
    (WORK / "bare.py").write_text(BARE)


def cpu_of(command: list[str]) -> float:
    """CPU seconds (user + system) of a whole process and what it started."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=WORK, check=True, capture_output=True, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def assay(days: int) -> float:
    shutil.rmtree(WORK / ".assay", ignore_errors=True)
    last = str(date(2024, 1, 1) + timedelta(days=days - 1))
    command = [str(ASSAY), "backfill", "start", "--from", "2024-01-01", "--to", last]
    return cpu_of([*command, "--force"])


def bare(days: int) -> float:
    return cpu_of([sys.executable, "bare.py", str(days)])


def main(argv: list[str] | None = None) -> None:
    """`--repeat N` and `--days A,B` (two lengths, at most 366) for a quick run."""
    args = sys.argv[1:] if argv is None else argv
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else REPEAT
    lengths = LENGTHS
    if "--days" in args:
        first, second = (int(n) for n in args[args.index("--days") + 1].split(","))
        lengths = (first, second)
    write_project()
    assay(lengths[0])  # the bytecode of both, once
    bare(lengths[0])
    cpu: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeat):
        for days in lengths:
            cpu.setdefault(("assay", days), []).append(assay(days))
            cpu.setdefault(("bare", days), []).append(bare(days))
    t = {name: statistics.median(values) for name, values in cpu.items()}
    short, long = lengths
    print(f"step overhead: 3 chained daily assets, in memory, CPU median of {repeat}:")
    for days in lengths:
        steps = 3 * days
        per_step = (t[("assay", days)] - t[("bare", days)]) / steps * 1000
        print(
            f"  {days} days ({steps} steps): assay {t[('assay', days)]:.2f} s, bare loop "
            f"{t[('bare', days)]:.2f} s; {per_step:.2f} ms per step over bare (whole run)"
        )
    more = 3 * (long - short)
    marginal = (t[("assay", long)] - t[("assay", short)]) - (t[("bare", long)] - t[("bare", short)])
    fixed = t[("assay", short)] - t[("bare", short)] - marginal / more * 3 * short
    print(
        f"  marginal: {marginal / more * 1000:.2f} ms of CPU per step ({more} more steps); "
        f"fixed: {fixed:.2f} s a run"
    )


if __name__ == "__main__":
    main()
