"""OpenLineage events of real runs: valid against the official schemas, one START and
one terminal event per run, and what they say about datasets, versions and checks."""

import json
import uuid
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

import assay
from assay.errors import UnknownAssetError
from tests.openlineage_spec import assert_well_formed

pytestmark = pytest.mark.slow

PROJECT = "lineage_shop-project"


@pytest.fixture
def shop(make_project, monkeypatch):
    for name in ("FLAKY_DIR", "BAD_DAY", "BIG", "NAMELESS_IO"):
        monkeypatch.delenv(name, raising=False)
    root = make_project("lineage_shop")
    (root / "drop").mkdir()
    for day in ("2024-01-01", "2024-01-02"):
        (root / "drop" / f"{day}.txt").write_text(f"export {day}")
    return root


def all_events(root: Path) -> list[dict]:
    frame = assay.lineage.open(root / ".assay").events()
    return [json.loads(text) for text in frame["event"]]


def runs_table(root: Path) -> list[dict]:
    with duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT * FROM runs ORDER BY started_at")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def step_events(events, job, partition=None, state=None):
    found = []
    for event in events:
        if event.get("job", {}).get("name") != job:
            continue
        if state and event["eventType"] != state:
            continue
        if partition is not None:
            facet = event["outputs"][0]["outputFacets"]["subset"]["outputCondition"]
            if facet["partitions"][0]["identifier"] != partition:
                continue
        found.append(event)
    return found


def test_every_event_of_a_full_workflow_validates_and_pairs_up(shop, monkeypatch, tmp_path):
    project = assay.load()
    for n in range(40):  # every day's file landed: none of the backfill waits for its source
        day = (date(2024, 1, 1) + timedelta(days=n)).isoformat()
        (shop / "drop" / f"{day}.txt").write_text(f"export {day}")
    project.observe("drops")
    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    backfill = project.backfill(
        "orders rolling_revenue", partition_range=("2024-01-01", "2024-02-09")
    )
    assert backfill is not None
    assert backfill.success
    monkeypatch.delenv("FLAKY_DIR")
    assert project.materialize("customers").success
    assert project.check("rolling_revenue", partition_range=("2024-01-01", "2024-01-03")).success
    monkeypatch.setenv("BAD_DAY", "2024-01-05")
    failed = project.materialize("orders+", partitions=["2024-01-05"], force=True)
    assert not failed.success

    events = all_events(shop)
    assert_well_formed(events)
    kinds = Counter(e["job"]["name"] if "job" in e else "dataset event" for e in events)
    assert kinds["dataset event"] == 40  # the observed drop files
    assert kinds["assay.observe"] == kinds["assay.check"] == 2
    assert kinds["assay.materialize"] == 2 * 3  # backfill run, customers, the failing run
    # 40 days x (1 failed attempt + 1 retry) + the schema failure (never retried)
    assert len(step_events(events, "orders", state="START")) == 80 + 1
    assert kinds["rolling_revenue.checks"] == 2 * (40 + 3)  # materializations + assay check
    # each run id belongs to one job and one partition
    owners = defaultdict(set)
    for event in events:
        if "run" in event:
            subset = (event.get("outputs") or event.get("inputs") or [{}])[0]
            owners[event["run"]["runId"]].add(
                (event["job"]["name"], json.dumps(subset.get("outputFacets", {}).get("subset")))
            )
    assert all(len(jobs) == 1 for jobs in owners.values())


def test_step_events_name_datasets_versions_partitions_and_parents(shop, monkeypatch, tmp_path):
    project = assay.load()
    monkeypatch.setenv("FLAKY_DIR", str(tmp_path))
    result = project.backfill(
        "orders rolling_revenue", partition_range=("2024-01-01", "2024-02-09")
    )
    assert result is not None
    assert result.success
    monkeypatch.delenv("FLAKY_DIR")
    project.materialize("customers")
    events = all_events(shop)
    storage = str(shop / ".assay" / "storage")

    # a retried day: a FAIL run with the error, then a COMPLETE run with its own id
    first, second = step_events(events, "orders", "2024-01-05", "START")
    fail = step_events(events, "orders", "2024-01-05", "FAIL")[0]
    done = step_events(events, "orders", "2024-01-05", "COMPLETE")[0]
    assert {first["run"]["runId"], second["run"]["runId"]} == {
        fail["run"]["runId"],
        done["run"]["runId"],
    }
    assert fail["run"]["runId"] != done["run"]["runId"]
    assert "API timeout for 2024-01-05" in fail["run"]["facets"]["errorMessage"]["message"]

    # the output: where it is, its asset key, version, schema, statistics, partition
    output = done["outputs"][0]
    assert (output["namespace"], output["name"]) == ("file", f"{storage}/orders")
    assert output["facets"]["symlinks"]["identifiers"] == [
        {"namespace": PROJECT, "name": "orders", "type": "ASSET"}
    ]
    stored = project.state.stored_partition("orders", "2024-01-05")
    assert output["facets"]["version"]["datasetVersion"] == stored["data_version"]
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == [
        "order_id",
        "amount",
        "day",
    ]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert output["outputFacets"]["outputStatistics"]["size"] > 0
    assert output["facets"]["dataSource"]["uri"] == f"file://{storage}/orders"
    run_facets = done["run"]["facets"]
    assert run_facets["nominalTime"]["nominalStartTime"].startswith("2024-01-05T00:00:00")
    assert run_facets["assay_provenance"]["codeVersion"] == stored["code_version"]
    assert done["eventTime"].endswith("+00:00")
    # parent: the assay run; root: the backfill
    assert run_facets["parent"]["run"]["runId"] == result.run_id
    assert run_facets["parent"]["job"] == {
        "namespace": PROJECT,
        "name": "assay.materialize",
        "facets": {},
    }
    assert run_facets["parent"]["root"]["run"]["runId"] == str(uuid.UUID(result.backfill_id))
    assert run_facets["parent"]["root"]["job"]["name"] == "assay.backfill"
    job = done["job"]
    assert job["namespace"] == PROJECT
    assert job["facets"]["ownership"]["owners"] == [{"name": "ada@shop.example"}]
    assert job["facets"]["documentation"]["description"] == "Orders of one day."
    assert [(t["key"], t["value"]) for t in job["facets"]["tags"]["tags"]] == [
        ("group", "sales"),
        ("domain", "sales"),
    ]

    # a 3-day window: the three days read are listed, with one version for them
    rolling = step_events(events, "rolling_revenue", "2024-01-05", "COMPLETE")[0]
    read = rolling["inputs"][0]
    assert read["name"] == f"{storage}/orders"
    assert [
        p["identifier"] for p in read["inputFacets"]["subset"]["inputCondition"]["partitions"]
    ] == [
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
    ]
    provenance = rolling["run"]["facets"]["assay_provenance"]["inputs"]["orders"]
    assert read["facets"]["version"]["datasetVersion"] == provenance["versions"]
    assert provenance["count"] == 3

    # DuckDB storage, and 40 days read: named as a range
    customers = step_events(events, "customers", state="COMPLETE")[0]
    assert customers["outputs"][0]["namespace"] == f"duckdb://{shop / 'warehouse.duckdb'}"
    assert customers["outputs"][0]["name"] == "warehouse.main.customers"
    condition = customers["inputs"][0]["inputFacets"]["subset"]["inputCondition"]
    assert condition["type"] == "binary"
    assert condition["left"]["right"]["value"] == "2024-01-01"
    assert condition["right"]["right"]["value"] == "2024-02-09"


def test_the_namespace_comes_from_openlineage_namespace(shop, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "team-sales")
    assay.load().materialize("orders", partitions=["2024-01-01"])
    events = all_events(shop)
    assert {e["job"]["namespace"] for e in events} == {"team-sales"}


def test_checks_are_runs_of_their_own_job_with_assertions(shop, monkeypatch):
    monkeypatch.setenv("BIG", "5")
    result = assay.load().materialize(
        "orders rolling_revenue", partition_range=("2024-01-01", "2024-01-03")
    )
    assert not result.success
    events = all_events(shop)
    assert_well_formed(events)
    checks = [e for e in events if e["job"]["name"] == "rolling_revenue.checks"]
    terminal = {
        e["inputs"][0]["inputFacets"]["subset"]["inputCondition"]["partitions"][0]["identifier"]: e
        for e in checks
        if e["eventType"] != "START"
    }
    # day 1 reads one day (revenue 3): passes, but the warn check sees 1 day, not 3
    day1 = terminal["2024-01-01"]
    assert day1["eventType"] == "COMPLETE"
    assertions = {
        a["name"]: a
        for a in day1["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    }
    assert assertions["three_days"] == {
        "assertion": "three_days",
        "name": "three_days",
        "success": False,
        "severity": "warn",
        "params": {},
    }
    assert assertions["rolling_revenue_bounded"]["success"] is True
    # day 2 revenue 7 > 5: the blocking check fails, the check run FAILs, the step FAILs
    assert terminal["2024-01-02"]["eventType"] == "FAIL"
    assert (
        "rolling_revenue_bounded"
        in terminal["2024-01-02"]["run"]["facets"]["errorMessage"]["message"]
    )
    assert step_events(events, "rolling_revenue", "2024-01-02", "FAIL")
    frame = assay.lineage.open().checks("rolling_revenue")
    failed = frame.filter(frame["success"].not_())
    assert set(zip(failed["partition_key"], failed["check"], strict=True)) >= {
        ("2024-01-01", "three_days"),
        ("2024-01-02", "rolling_revenue_bounded"),
    }


def test_the_lineage_api_answers_in_frames_without_holding_the_store(shop):
    project = assay.load()
    project.materialize("orders rolling_revenue", partition_range=("2024-01-01", "2024-02-09"))
    project.materialize("customers")
    project.materialize("orders", partitions=["2024-01-02"], force=True)  # a second time
    lineage = assay.lineage.open()

    up = lineage.upstream("customers")
    assert up.select("asset", "depth", "via").rows() == [
        ("orders", 1, "customers"),
        ("drops", 2, "orders"),  # a dependency without data is lineage too
    ]
    down = lineage.downstream("orders")
    assert set(down.select("asset", "depth").rows()) == {("rolling_revenue", 1), ("customers", 1)}
    assert lineage.downstream("orders", depth=1).height == 2
    versions = lineage.versions("orders", partition="2024-01-02")
    assert versions.height == 2
    assert versions["version"].n_unique() == 1
    runs = lineage.runs("orders", kind="asset")
    assert runs.height == 41
    assert set(runs["state"]) == {"COMPLETE"}
    assert lineage.runs("orders").height == 2 * 41  # and its schema's check runs
    assert (runs["duration_s"] >= 0).all()
    assert lineage.events(asset="customers")["event_type"].to_list() == ["START", "COMPLETE"]
    jobs = lineage.sql("SELECT job_name, runs FROM lineage_jobs WHERE job_name = ?", ["orders"])
    assert jobs.rows() == [("orders", 41)]
    with pytest.raises(UnknownAssetError, match="Did you mean 'orders'"):
        lineage.upstream("order")
    # nothing holds the state store between calls: a writer can open it at once
    duckdb.connect(str(shop / ".assay/assay.duckdb")).close()


def test_lineage_can_be_turned_off(shop, monkeypatch):
    monkeypatch.setenv("ASSAY_LINEAGE", "off")
    assert assay.load().materialize("orders", partitions=["2024-01-01"]).success
    assert all_events(shop) == []
    assert runs_table(shop)[-1]["lineage_events"] == 0


def test_an_event_that_cannot_be_built_never_changes_the_run(shop, monkeypatch):
    monkeypatch.setenv("NAMELESS_IO", "1")
    project = assay.load()
    project.materialize("orders", partition_range=("2024-01-01", "2024-02-09"))
    assert project.materialize("customers").success
    run = runs_table(shop)[-1]
    assert run["status"] == "succeeded"
    assert run["lineage_errors"] == 1
    # the run's own events are still there
    assert {
        e["eventType"] for e in all_events(shop) if e["job"]["name"] == "assay.materialize"
    } == {"START", "COMPLETE"}


def test_worker_processes_build_the_terminal_events(shop):
    result = assay.load().materialize(
        "orders rolling_revenue",
        partition_range=("2024-01-01", "2024-01-06"),
        executor="multiprocess",
        workers=2,
    )
    assert result.success
    events = all_events(shop)
    assert_well_formed(events)
    assert len(step_events(events, "rolling_revenue", state="COMPLETE")) == 6
