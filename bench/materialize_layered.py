"""`assay materialize` of small layered graphs, against a bare polars script.

Each asset reads 1-3 assets of the layer before and returns a 5-row frame. The
baseline computes the same frames, reading each input back from Parquet and
writing each output to Parquet. Everything runs as whole processes, interleaved,
in the same run, with each process's own peak memory (`wait4`):

- the fixed cost of a run: `assay materialize` of 10 assets on a fresh state,
  against Python starting and importing polars (targets: 0.35 s, 120 MiB);
- the overhead per asset: what 90 more assets add to assay beyond what they add
  to the bare script, 10 assets against 100 (target: 1 ms);
- `assay --help`, and `assay list` on the 100 assets (target: 0.2 s).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

LAYERS = 10
WIDTH = 10
REPEAT = 5
WORK = Path(__file__).resolve().parent / ".work" / "layered"
SMALL = WORK.parent / "layered10"  # 2 layers of 5
ASSAY = Path(sys.executable).parent / "assay"


def graph(layers: int = LAYERS, width: int = WIDTH) -> dict[str, list[str]]:
    rng = random.Random(7)
    assets: dict[str, list[str]] = {}
    for layer in range(layers):
        for i in range(width):
            name = f"a{layer}_{i}"
            if layer == 0:
                assets[name] = []
            else:
                previous = [f"a{layer - 1}_{j}" for j in range(width)]
                assets[name] = sorted(rng.sample(previous, rng.randint(1, 3)))
    return assets


def expression(inputs: list[str]) -> str:
    if not inputs:
        return 'pl.DataFrame({"x": [1, 2, 3, 4, 5]})'
    total = " + ".join(f'{name}["x"]' for name in inputs)
    return f'pl.DataFrame({{"x": {total} + 1}})'


def write_project(assets: dict[str, list[str]], work: Path | None = None) -> None:
    work = work or WORK  # read at the call: bench/peers.py points WORK elsewhere
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "pyproject.toml").write_text('[tool.assay]\nmodule = "layered"\n')
    lines = ["import polars as pl", "", "from assay import asset", ""]
    for name, inputs in assets.items():
        params = ", ".join(f"{i}: pl.DataFrame" for i in inputs)
        lines += ["", "@asset", f"def {name}({params}) -> pl.DataFrame:"]
        lines += [f"    return {expression(inputs)}", ""]
    (work / "layered.py").write_text("\n".join(lines))
    base = [
        "import sys",
        "from pathlib import Path",
        "import polars as pl",
        "",
        "out = Path(sys.argv[1])",
    ]
    base.append("out.mkdir(parents=True, exist_ok=True)")
    for name, inputs in assets.items():
        for i in inputs:
            base.append(f'{i} = pl.read_parquet(out / "{i}.parquet")')
        base.append(f'{expression(inputs)}.write_parquet(out / "{name}.parquet")')
    (work / "baseline.py").write_text("\n".join(base) + "\n")


# Both sides run as users run them: with Python's bytecode cache (some sandboxes
# set PYTHONDONTWRITEBYTECODE, which recompiles every module at each start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path = WORK) -> float:
    return measured(cmd, cwd)[0]


def measured(cmd: list[str], cwd: Path = WORK) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


def fresh(work: Path) -> None:
    shutil.rmtree(work / ".assay", ignore_errors=True)
    for bare in work.glob("bare*"):
        shutil.rmtree(bare)


def main() -> None:
    big, small = graph(), graph(2, 5)
    write_project(big)
    write_project(small, SMALL)
    timed([str(ASSAY), "--help"])  # warm the bytecode cache
    runs: dict[str, list[tuple[float, float]]] = {
        "assay100": [],
        "bare100": [],
        "assay10": [],
        "bare10": [],
        "polars": [],
    }
    for rep in range(REPEAT):
        for work, size in ((WORK, 100), (SMALL, 10)):
            fresh(work)
            runs[f"assay{size}"].append(measured([str(ASSAY), "materialize"], work))
            runs[f"bare{size}"].append(
                measured([sys.executable, "baseline.py", f"bare{rep}"], work)
            )
        runs["polars"].append(measured([sys.executable, "-c", "import polars"]))
    wall = {name: statistics.median(t for t, _ in found) for name, found in runs.items()}
    peak = {name: statistics.median(m for _, m in found) for name, found in runs.items()}
    print(f"materialize, whole processes on a fresh state, median of {REPEAT}:")
    for name, label in (
        ("assay10", "assay, 10 assets"),
        ("bare10", "bare script, 10 assets"),
        ("assay100", "assay, 100 assets"),
        ("bare100", "bare script, 100 assets"),
        ("polars", "python -c 'import polars'"),
    ):
        print(f"  {label:28s} {wall[name]:6.3f} s  {peak[name]:6.1f} MiB")
    fixed = wall["assay10"]
    print(
        f"  fixed cost (10 assets): {fixed:.3f} s, {fixed / wall['polars']:.2f}x Python + "
        f"polars (target 0.35 s, ~2x); peak {peak['assay10']:.0f} MiB (target 120 MiB)"
    )
    added = (wall["assay100"] - wall["assay10"]) - (wall["bare100"] - wall["bare10"])
    print(
        f"  overhead per asset: {added / 90 * 1000:.2f} ms (target 1 ms); 100 assets "
        f"{wall['assay100'] / wall['bare100']:.2f}x the bare script"
    )
    help_t = statistics.median(timed([str(ASSAY), "--help"]) for _ in range(10))
    list_t = statistics.median(timed([str(ASSAY), "list"]) for _ in range(5))
    # what listing cannot avoid: Python importing the project's module (and polars)
    module_t = statistics.median(timed([sys.executable, "-c", "import layered"]) for _ in range(5))
    python_t = statistics.median(timed([sys.executable, "-c", "pass"]) for _ in range(10))
    print(f"assay --help: {help_t:.3f} s (target <= 0.15 s; bare python start {python_t:.3f} s)")
    print(
        f"assay list ({len(big)} assets): {list_t:.3f} s (target <= 0.2 s); "
        f"`python -c 'import layered'` alone {module_t:.3f} s, so assay's own part "
        f"{list_t - module_t:.3f} s"
    )


if __name__ == "__main__":
    main()
