"""`assay materialize` on a 100-asset layered graph, against a bare polars script.

Each asset reads 1-3 assets of the layer before and returns a 5-row frame. The
baseline computes the same frames, reading each input back from Parquet and
writing each output to Parquet. Both run as whole processes, in the same run.
Also times `assay --help` and `assay list` on the 100 assets.
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
ASSAY = Path(sys.executable).parent / "assay"


def graph() -> dict[str, list[str]]:
    rng = random.Random(7)
    assets: dict[str, list[str]] = {}
    for layer in range(LAYERS):
        for i in range(WIDTH):
            name = f"a{layer}_{i}"
            if layer == 0:
                assets[name] = []
            else:
                previous = [f"a{layer - 1}_{j}" for j in range(WIDTH)]
                assets[name] = sorted(rng.sample(previous, rng.randint(1, 3)))
    return assets


def expression(inputs: list[str]) -> str:
    if not inputs:
        return 'pl.DataFrame({"x": [1, 2, 3, 4, 5]})'
    total = " + ".join(f'{name}["x"]' for name in inputs)
    return f'pl.DataFrame({{"x": {total} + 1}})'


def write_project(assets: dict[str, list[str]]) -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    (WORK / "pyproject.toml").write_text('[tool.assay]\nmodule = "layered"\n')
    lines = ["import polars as pl", "", "from assay import asset", ""]
    for name, inputs in assets.items():
        params = ", ".join(f"{i}: pl.DataFrame" for i in inputs)
        lines += ["", "@asset", f"def {name}({params}) -> pl.DataFrame:"]
        lines += [f"    return {expression(inputs)}", ""]
    (WORK / "layered.py").write_text("\n".join(lines))
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
    (WORK / "baseline.py").write_text("\n".join(base) + "\n")


# Both sides run as users run them: with Python's bytecode cache (some sandboxes
# set PYTHONDONTWRITEBYTECODE, which recompiles every module at each start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=WORK, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def main() -> None:
    assets = graph()
    write_project(assets)
    n = len(assets)
    timed([str(ASSAY), "--help"])  # warm the bytecode cache
    assay_s, bare_s = [], []
    for rep in range(REPEAT):
        shutil.rmtree(WORK / ".assay", ignore_errors=True)
        shutil.rmtree(WORK / "bare", ignore_errors=True)
        assay_s.append(timed([str(ASSAY), "materialize"]))
        bare_s.append(timed([sys.executable, "baseline.py", f"bare{rep}"]))
    assay_t, bare_t = statistics.median(assay_s), statistics.median(bare_s)
    overhead_ms = (assay_t - bare_t) / n * 1000
    print(f"materialize {n} assets: assay {assay_t:.3f} s, bare polars script {bare_t:.3f} s")
    print(
        f"  ratio {assay_t / bare_t:.2f}x (target <= 2.5x); "
        f"overhead {overhead_ms:.2f} ms per asset (target <= 3 ms)"
    )
    help_t = statistics.median(timed([str(ASSAY), "--help"]) for _ in range(10))
    list_t = statistics.median(timed([str(ASSAY), "list"]) for _ in range(5))
    python_t = statistics.median(timed([sys.executable, "-c", "pass"]) for _ in range(10))
    print(f"assay --help: {help_t:.3f} s (target <= 0.15 s; bare python start {python_t:.3f} s)")
    print(f"assay list ({n} assets): {list_t:.3f} s (target <= 0.5 s)")


if __name__ == "__main__":
    main()
