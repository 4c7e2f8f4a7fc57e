"""Planning stays linear in the number of static partitions: a definition is a dict
and cache key everywhere in the planner, and hashing its 100k keys at each lookup
made `assay plan` take 25 s (and materializing one partition as long)."""

import time

import assay

N = 100_000
PROJECT = f"""
import polars as pl

from assay import StaticPartitions, asset

KEYS = StaticPartitions([f"k{{i}}" for i in range({N})])


@asset(partitions=KEYS)
def raw() -> pl.DataFrame:
    return pl.DataFrame({{"x": [1]}})


@asset(partitions=KEYS)
def clean(raw: pl.DataFrame) -> pl.DataFrame:
    return raw
"""


def test_100k_static_partitions_plan_and_materialize_one_in_seconds(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "wide_static.py").write_text(PROJECT)
    monkeypatch.chdir(tmp_path)
    project = assay.load(file=tmp_path / "wide_static.py", home=tmp_path / ".assay")

    started = time.perf_counter()
    plan = project.plan()
    planned_s = time.perf_counter() - started
    assert plan.partition_count == 2 * N
    # 0.2-0.4 s here; quadratic hashing took over 20 s
    assert planned_s < 4, planned_s

    started = time.perf_counter()
    result = project.materialize("raw clean", partitions=[f"k{N // 2}"])
    materialized_s = time.perf_counter() - started
    assert result.success
    assert [(s.key, s.partition) for s in result.steps] == [
        (assay.AssetKey(("raw",)), f"k{N // 2}"),
        (assay.AssetKey(("clean",)), f"k{N // 2}"),
    ]
    assert materialized_s < 6, materialized_s
    stale = project.plan().to_dicts()
    assert [s["count"] for s in stale] == [N - 1, N - 1]
