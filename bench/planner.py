"""The planner at scale: 1,000 assets x 3,650 daily partitions (3.65M asset partitions);
`--scale 10`: 10,000 assets (10 layers x 1,000), 36.5M asset partitions.

The state store is filled directly (as a long history of runs would leave it),
one plan made (as the last command would have), then `project.plan()` is timed in
a fresh process per scenario, with its peak memory and the time its garbage
collections took: (a) nothing changed, (b) one root asset's code changed (its
function edited: everything downstream of it stale), (c) one root partition's
data changed (a materialization journaled and indexed by an earlier process, as a
run leaves it). The heap is kept as the CLI's own process keeps it (`assay.heap`).

`--before SRC` times the source tree SRC (a checkout of an older assay: its
`src/` is put first on PYTHONPATH) on a store of its own, in the same run, and
prints the ratio of each scenario. Processes keep bytecode (in bench/.work/pycache),
as a user's machine does: the project's module is rewritten only when its text
changes ((b)'s edit, compiled once by that scenario, as the user's first run after
an edit would; the original is compiled again after it, as the runs before the
edit left it). `--reuse` measures on the stores the last run filled (their history
ends on a fixed date: any day; at 10x filling takes ~10 minutes). Targets: under
2 s and 2 GiB at 1x; under 3 s and 4 GiB at 10x.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LAYERS = 10
WIDTH = 100
DAYS = 3650
START = "2015-01-01"
END = "2024-12-29"  # START + 3,650 days
WORK = Path(__file__).resolve().parent / ".work" / "planner"


def write_project(
    work: Path | None = None,
    *,
    layers: int = LAYERS,
    width: int = WIDTH,
    start: str = START,
    end: str | None = END,
    decorator: str = "@asset(partitions=DAYS)",
    header: tuple[str, ...] = (),
    edited: bool = False,
) -> None:
    """`<work>/wide.py`: `layers` layers of `width` daily assets `a<layer>_<i>`, each
    reading 1-3 assets of the layer before (`end` None: open-ended; `header`: more
    lines after the imports, such as those `decorator` needs; `edited`: the first
    root's body changed)."""
    work = work or WORK
    rng = random.Random(11)
    bounds = f'start="{start}"' + ("" if end is None else f', end="{end}"')
    lines = [
        "import polars as pl",
        "from assay import DailyPartitions, asset",
        *header,
        f"DAYS = DailyPartitions({bounds})",
    ]
    for layer in range(layers):
        for i in range(width):
            inputs = (
                []
                if layer == 0
                else sorted(
                    rng.sample([f"a{layer - 1}_{j}" for j in range(width)], rng.randint(1, 3))
                )
            )
            params = ", ".join(f"{name}: pl.DataFrame" for name in inputs)
            lines += [
                "",
                "",
                decorator,
                f"def a{layer}_{i}({params}) -> pl.DataFrame:",
            ]
            value = layer * width + i
            if edited and layer == 0 and i == 0:
                value = -1
            lines.append(f"    return pl.DataFrame({{'x': [{value}]}})")
    module, text = work / "wide.py", "\n".join(lines) + "\n"
    if not module.exists() or module.read_text() != text:  # unchanged: its bytecode holds
        module.write_text(text)
    (work / "pyproject.toml").write_text('[tool.assay]\nmodule = "wide"\n')


def populate(work: Path | None = None, *, start: str = START, days: int = DAYS) -> Any:
    """Every asset partition materialized once, layer by layer, all fresh (as a long
    history of runs leaves the store: `asset_partitions` only); returns the project
    (its code versions computed)."""
    work = work or WORK
    sys.path.insert(0, str(work))
    import duckdb

    import assay
    from assay.state.migrations import migrate
    from assay.versioning import code_version, inputs_signature

    project = assay.load(module="wide", home=work / ".assay")
    graph = project.graph
    (work / ".assay").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(work / ".assay" / "assay.duckdb"))
    migrate(con)
    assets = [
        {
            "asset_key": str(key),
            "layer": int(str(key)[1 : str(key).index("_")]),
            "code_version": code_version(graph.specs[key]),
            "inputs_signature": inputs_signature(graph, key),
        }
        for key in graph.order
    ]
    import pyarrow as pa

    asset_table = pa.Table.from_pylist(assets)  # noqa: F841
    con.execute(
        f"""
        INSERT INTO asset_partitions BY NAME
        SELECT a.asset_key, strftime(DATE '{start}' + d.i::INTEGER, '%Y-%m-%d') AS partition_key,
               a.asset_key || '-' || d.i AS materialization_id, 'bench' AS run_id,
               TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_hours(a.layer) AS started_at,
               started_at + to_minutes(30) AS finished_at,
               md5(a.asset_key || d.i) AS data_version, a.code_version, a.inputs_signature,
               NULL AS provenance, finished_at AS version_changed_at,
               epoch_us(finished_at) AS seq, epoch_us(started_at) AS started_seq,
               epoch_us(finished_at) AS changed_seq
        FROM asset_table a, range({days}) d(i)
        """
    )
    with contextlib.suppress(ImportError, duckdb.CatalogException):  # an assay before store ids
        from assay.state.snapshot import name_store

        name_store(con)
    count = con.execute("SELECT count(*) FROM asset_partitions").fetchall()[0][0]
    con.close()
    print(f"populated {count:,} asset partitions")
    return project


def change(work: Path, name: str) -> None:
    """Before scenario `name`'s timed process: (c) journal a new materialization of one
    root partition and index it, as a run that made it would (in its own process)."""
    if name != "c":
        return
    sys.path.insert(0, str(work))
    from assay.state.store import StateStore

    home = work / ".assay"
    journal = home / "journal"
    journal.mkdir(parents=True, exist_ok=True)
    at = 1738368000.0  # 2025-02-01, after every populated record
    record = {
        "type": "materialization",
        "materialization_id": "bench-changed",
        "run_id": "bench-change",
        "asset_key": "a0_0",
        "partition_key": "2020-01-01",
        "started_at": at,
        "finished_at": at + 1,
        "data_version": "new",
        "code_version": None,
        "inputs_signature": "",
        "seq": int(at * 1e6) + 1,
        "started_seq": int(at * 1e6),
    }
    import assay
    from assay.versioning import code_version

    project = assay.load(module="wide", home=home)
    record["code_version"] = code_version(project.graph.specs[project.graph.order[0]])
    (journal / "bench-change.jsonl").write_text(json.dumps(record) + "\n")
    StateStore(home).index_pending()


def scenario(work: Path, name: str) -> None:
    """Run in a fresh process: plan, print timings as JSON."""
    import gc

    sys.path.insert(0, str(work))
    collecting = [0.0, 0.0]  # when the running collection started, all collections' time

    def timed(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            collecting[0] = time.perf_counter()
        else:
            collecting[1] += time.perf_counter() - collecting[0]

    gc.callbacks.append(timed)
    start = time.perf_counter()
    import assay

    with contextlib.suppress(ImportError):  # an older tree (--before): no such policy
        from assay.heap import own_process

        own_process()  # the heap as `assay plan`'s own process keeps it
    project = assay.load(module="wide", home=work / ".assay")
    loaded = time.perf_counter()
    plan = project.plan()
    planned = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "load_s": loaded - start,
                "plan_s": planned - loaded,
                "wall_s": planned - start,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "gc_s": collecting[1],
                "peak_mib": usage.ru_maxrss / 1024,
                "stale_assets": len(plan.steps),
                "stale_partitions": plan.partition_count,
            }
        )
    )


LABELS = {
    "a": "(a) nothing changed",
    "b": "(b) one root's code changed",
    "c": "(c) one root partition's data changed",
}


def _run(args: list[str], src: Path | None, *, capture: bool = False) -> str:
    env = dict(os.environ)
    # bytecode kept, as on a user's machine (here in the work folder, outside src/)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(WORK.with_name("pycache"))
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, env=env, capture_output=capture, text=True
    )
    return done.stdout


def prepare(work: Path, src: Path | None, layers: int, width: int) -> None:
    """A project and a populated store in `work`, for the assay in `src` (None: this
    one), with one plan made on it; kept in `work/backup`."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    write_project(work, layers=layers, width=width)
    _run(["populate", str(work), str(layers), str(width)], src)
    _run(["scenario", str(work), "a"], src, capture=True)  # what the last command left
    shutil.copytree(work / ".assay", work / "backup")


def measure(work: Path, src: Path | None, name: str, layers: int, width: int) -> dict[str, Any]:
    shutil.rmtree(work / ".assay", ignore_errors=True)
    shutil.copytree(work / "backup", work / ".assay")
    write_project(work, layers=layers, width=width, edited=name == "b")
    try:
        _run(["change", str(work), name], src)
        out = _run(["scenario", str(work), name], src, capture=True)
    finally:
        write_project(work, layers=layers, width=width)
        if name == "b":  # the module as the user's runs before the edit left it compiled
            _run(["compile", str(work)], src)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="assets x this (1: 1,000)")
    parser.add_argument("--before", type=Path, help="an older source tree to time as well")
    parser.add_argument("--only", default="abc", help="the scenarios to run (default abc)")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the stores the last run filled (if any)"
    )
    args = parser.parse_args(argv)
    layers, width = LAYERS, WIDTH * args.scale
    targets = (2.0, 2048) if args.scale == 1 else (3.0, 4096)
    trees: dict[str, Path | None] = {"now": None}
    if args.before is not None:
        trees["before"] = args.before.resolve()
    print(
        f"planner: {layers * width:,} assets x {DAYS} daily partitions "
        f"({layers * width * DAYS:,} asset partitions), load {os.getloadavg()[0]:.1f}"
    )
    works = {label: WORK.with_name(f"planner-{label}-x{args.scale}") for label in trees}
    for label, src in trees.items():
        if not (args.reuse and (works[label] / "backup").is_dir()):
            prepare(works[label], src, layers, width)
    for name in args.only:
        found = {
            label: measure(works[label], src, name, layers, width) for label, src in trees.items()
        }
        for label, result in found.items():
            ratio = ""
            if label == "now" and "before" in found:
                ratio = f"; {result['wall_s'] / found['before']['wall_s']:.2f}x before"
            print(
                f"  {LABELS[name]} [{label}]: {result['wall_s']:.2f} s "
                f"(load {result['load_s']:.2f} s, plan {result['plan_s']:.2f} s, "
                f"CPU {result['cpu_s']:.2f} s, collector {result.get('gc_s', 0):.2f} s), "
                f"peak {result['peak_mib']:,.0f} MiB; "
                f"{result['stale_assets']} assets, {result['stale_partitions']:,} partitions "
                f"stale{ratio} (targets: {targets[0]:.0f} s, {targets[1]:,} MiB); "
                f"load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["populate"]:
        where = Path(sys.argv[2])
        populate(where)
    elif sys.argv[1:2] == ["change"]:
        change(Path(sys.argv[2]), sys.argv[3])
    elif sys.argv[1:2] == ["compile"]:
        import py_compile

        py_compile.compile(str(Path(sys.argv[2]) / "wide.py"), doraise=True)
    elif sys.argv[1:2] == ["scenario"]:
        scenario(Path(sys.argv[2]), sys.argv[3])
    else:
        main()
