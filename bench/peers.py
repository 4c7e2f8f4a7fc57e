"""assay against Dagster on the same 100-asset layered graph: `make bench-peers`.

Not part of `make bench` or `make test`: it installs Dagster (pinned below) and
polars (the version assay runs with) into a throwaway virtualenv,
bench/.work/peers/venv, on its first run. Then, each a whole process:

- `--help` of each CLI: `assay --help` and `dagster --help`;
- listing the 100 assets: `assay list` and `dagster asset list -f layered_dagster.py`
  (Dagster's own command for it: it loads the code location and prints each key);
- materializing the 100 assets of bench/materialize_layered.py's graph (each reads
  1-3 of the layer before, returns a 5-row polars frame): `assay materialize`
  (in process; Parquet storage; DuckDB state store), Dagster's `materialize(assets,
  instance=DagsterInstance.get())` on its default local instance (DAGSTER_HOME in
  the work folder: SQLite storage, its default filesystem IO manager, which pickles
  each output; the in-process executor, `materialize`'s default; telemetry off), and
  materialize_layered's bare polars script (read each input from Parquet, write each
  output to Parquet). Each starts from an empty store (.assay/ and DAGSTER_HOME
  emptied), interleaved, REPEAT times; medians and ratios are printed.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import materialize_layered

DAGSTER_VERSION = "1.13.29"
REPEAT = int(os.environ.get("REPEAT", "5"))
WORK = Path(__file__).resolve().parent / ".work" / "peers"
VENV = WORK / "venv"
ASSAY = Path(sys.executable).parent / "assay"
DAGSTER = VENV / "bin" / "dagster"
DAGSTER_PYTHON = VENV / "bin" / "python"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
DAGSTER_ENV = {**ENV, "DAGSTER_HOME": str(WORK / "dagster_home")}

RUN_DAGSTER = """
from dagster import DagsterInstance, materialize

import layered_dagster

result = materialize(layered_dagster.ASSETS, instance=DagsterInstance.get())
assert result.success
"""


def ensure_venv() -> None:
    """The peers' virtualenv, made (or remade, on other pins) with this Python."""
    polars = importlib.metadata.version("polars")
    pins = [f"dagster=={DAGSTER_VERSION}", f"polars=={polars}"]
    marker = VENV / "pins.txt"
    if marker.exists() and marker.read_text() == "\n".join(pins):
        return
    shutil.rmtree(VENV, ignore_errors=True)
    print(f"installing {' '.join(pins)} into {VENV} (once) ...", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *pins], check=True)
    marker.write_text("\n".join(pins))


def write_projects(assets: dict[str, list[str]]) -> None:
    """materialize_layered's assay project and bare script, and the same graph for Dagster."""
    materialize_layered.WORK = WORK / "assay"
    materialize_layered.write_project(assets)
    folder = WORK / "dagster"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = ["import polars as pl", "", "from dagster import Definitions, asset", ""]
    for name, inputs in assets.items():
        params = ", ".join(f"{i}: pl.DataFrame" for i in inputs)
        lines += ["", "@asset", f"def {name}({params}) -> pl.DataFrame:"]
        lines += [f"    return {materialize_layered.expression(inputs)}", ""]
    lines += ["", f"ASSETS = [{', '.join(assets)}]", "defs = Definitions(assets=ASSETS)", ""]
    (folder / "layered_dagster.py").write_text("\n".join(lines))
    (folder / "run_dagster.py").write_text(RUN_DAGSTER)


def fresh_dagster_home() -> None:
    home = WORK / "dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")


def timed(cmd: list[str], cwd: Path, env: dict[str, str] = ENV) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return seconds


def assay_materialize() -> float:
    shutil.rmtree(WORK / "assay" / ".assay", ignore_errors=True)
    return timed([str(ASSAY), "materialize"], WORK / "assay")


def dagster_materialize() -> float:
    fresh_dagster_home()
    return timed([str(DAGSTER_PYTHON), "run_dagster.py"], WORK / "dagster", DAGSTER_ENV)


def bare() -> float:
    shutil.rmtree(WORK / "assay" / "bare", ignore_errors=True)
    return timed([sys.executable, "baseline.py", "bare"], WORK / "assay")


def median(run: object, times: int) -> float:
    assert callable(run)
    return statistics.median(run() for _ in range(times))


def main() -> None:
    ensure_venv()
    assets = materialize_layered.graph()
    write_projects(assets)
    n = len(assets)
    fresh_dagster_home()
    listing = ["asset", "list", "-f", "layered_dagster.py"]
    # warm both bytecode caches, and check that both list every asset
    timed([str(ASSAY), "--help"], WORK / "assay")
    listed = subprocess.run(
        [str(DAGSTER), *listing],
        cwd=WORK / "dagster",
        env=DAGSTER_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(name in listed.stdout for name in assets), listed.stdout[-500:]
    assay_help = median(lambda: timed([str(ASSAY), "--help"], WORK / "assay"), 10)
    dagster_help = median(lambda: timed([str(DAGSTER), "--help"], WORK, DAGSTER_ENV), 10)
    assay_list = median(lambda: timed([str(ASSAY), "list"], WORK / "assay"), 5)
    dagster_list = median(lambda: timed([str(DAGSTER), *listing], WORK / "dagster", DAGSTER_ENV), 5)
    runs: dict[str, list[float]] = {}
    for _ in range(REPEAT):
        for name, run in (
            ("bare polars script", bare),
            ("assay materialize", assay_materialize),
            ("Dagster materialize", dagster_materialize),
        ):
            runs.setdefault(name, []).append(run())
    t = {name: statistics.median(times) for name, times in runs.items()}
    print(
        f"assay {importlib.metadata.version('assay')} vs Dagster {DAGSTER_VERSION} "
        f"(polars {importlib.metadata.version('polars')}, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores)"
    )
    print(
        f"  --help:              assay {assay_help:6.2f} s   Dagster {dagster_help:6.2f} s"
        f"   ({dagster_help / assay_help:.1f}x)"
    )
    print(
        f"  list {n} assets:     assay {assay_list:6.2f} s   Dagster {dagster_list:6.2f} s"
        f"   ({dagster_list / assay_list:.1f}x)  [dagster asset list -f]"
    )
    print(f"  materialize {n} assets, median of {REPEAT}:")
    for name, seconds in t.items():
        shown = ", ".join(f"{s:.2f}" for s in runs[name])
        print(f"    {name:<20} {seconds:6.2f} s  ({shown})")
    bare_t = t["bare polars script"]
    print(
        f"    assay {t['assay materialize'] / bare_t:.2f}x the bare script, Dagster "
        f"{t['Dagster materialize'] / bare_t:.2f}x; Dagster takes "
        f"{t['Dagster materialize'] / t['assay materialize']:.1f}x as long as assay"
    )


if __name__ == "__main__":
    main()
