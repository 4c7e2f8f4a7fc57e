"""Assets of any type, end to end: JSON values, pickles, files and side effects
through `assay.load(...)` and the CLI, on the in-process and process-pool executors."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from tests.openlineage_spec import assert_well_formed

PROJECT = "any_types-project"


@pytest.fixture
def shop(make_project, monkeypatch):
    for name in ("FAIL_SUMMARY", "PUBLISHED_DIR"):
        monkeypatch.delenv(name, raising=False)
    return make_project("any_types")


def stored(root: Path, *path: str) -> Path:
    return root.joinpath(".assay", "storage", *path)


def versions(result) -> dict[str, str]:
    return {
        step.step_key: step.stored.data_version for step in result.steps if step.stored is not None
    }


def planned(project, **kwargs) -> dict[str, set[str]]:
    plan = project.plan(**kwargs)
    return {str(s.key): {r.kind.value for r in s.reasons} for s in plan.steps}


def test_every_type_is_stored_handed_downstream_and_stays_fresh(shop):
    project = assay.load()
    first = project.materialize()
    assert first.success, [s.message for s in first.steps]
    assert json.loads(stored(shop, "summary/data.json").read_text()) == {"rows": 3, "total": 35.0}
    assert stored(shop, "regional/partition=eu/data.json").read_text() == (
        '{"region":"eu","total":15.0}'
    )
    assert stored(shop, "regional_note/partition=us/data.txt").read_bytes() == b"us: 20.0"
    assert json.loads(stored(shop, "scores/data.json").read_text()) == {"eu": 5.25, "us": 7.0}
    assert stored(shop, "model/data.pkl").is_file()
    assert stored(shop, "chart/data").read_bytes() == b"[('eu', 5.25), ('us', 7.0)]"
    assert "<li>eu: 15.0</li>" in stored(shop, "report/data.html").read_text()
    assert (shop / "published/chart.txt").read_bytes() == b"[('eu', 5.25), ('us', 7.0)]"
    by_step = {step.step_key: step for step in first.steps}
    assert by_step["summary"].stored.row_count is None
    assert by_step["orders"].stored.row_count == 3
    assert by_step["publish"].stored.location == ""
    assert [c.name for c in by_step["publish"].checks] == ["chart_is_published"]
    assert by_step["publish"].checks[0].passed
    assert by_step["report"].checks[0].passed  # a check annotated bytes reads the file
    assert by_step["chart"].checks[0].passed  # one annotated Path gets a file of the bytes
    assert versions(first)["announce"] == "announced-v1"
    assert planned(project) == {}

    # equal content, equal version: a forced summary leaves everything downstream fresh
    again = project.materialize("summary", force=True)
    assert versions(again)["summary"] == versions(first)["summary"]
    assert planned(project) == {}


def test_a_side_effect_is_fresh_until_it_runs_again_and_then_downstream_sees_it(shop):
    project = assay.load()
    first = project.materialize()
    assert planned(project, verify=True) == {}  # a side effect has nothing to lose
    rerun = project.materialize("publish", force=True)
    assert versions(rerun)["publish"] != versions(first)["publish"]  # always a new version
    assert (shop / "published/log.txt").read_text() == "published\n" * 2
    assert planned(project) == {"announce": {"input changed"}}
    project.materialize()
    assert planned(project) == {}

    stored(shop, "regional/partition=us/data.json").unlink()
    stale = planned(project, verify=True)
    assert stale["regional"] == {"stored data missing"}
    assert "publish" in stale  # downstream of it, not gone itself
    assert "stored data missing" not in stale["publish"]


def test_a_failing_write_keeps_the_old_value_and_downstream_does_not_run(shop, monkeypatch):
    project = assay.load()
    assert project.materialize().success
    before = stored(shop, "summary/data.json").read_bytes()
    monkeypatch.setenv("FAIL_SUMMARY", "1")
    failed = project.materialize("summary+", force=True)
    assert not failed.success
    summary = next(s for s in failed.steps if s.step_key == "summary")
    assert "returned a value JSONIO cannot store" in summary.message
    assert "set is not JSON serializable" in summary.message
    assert stored(shop, "summary/data.json").read_bytes() == before
    assert not list(stored(shop, ".assay-tmp").glob("*"))
    assert {s.step_key: s.status.value for s in failed.steps}["model"] == "skipped"


def test_values_cross_processes_through_storage_on_the_process_pool(shop):
    result = assay.load().materialize(executor="multiprocess", workers=2)
    assert result.success, [s.message for s in result.steps]
    assert json.loads(stored(shop, "scores/data.json").read_text()) == {"eu": 5.25, "us": 7.0}
    assert (shop / "published/chart.txt").is_file()
    assert planned(assay.load()) == {}


def test_lineage_of_values_and_side_effects_validates(shop):
    assert assay.load().materialize().success
    frame = assay.lineage.open(shop / ".assay").events()
    events = [json.loads(text) for text in frame["event"]]
    assert_well_formed(events)
    done = {
        e["job"]["name"]: e
        for e in events
        if e["eventType"] == "COMPLETE" and e["job"]["name"] in ("summary", "publish")
    }
    summary_out = done["summary"]["outputs"][0]
    assert summary_out["namespace"] == "file"
    assert summary_out["name"].endswith(".assay/storage/summary")
    publish_out = done["publish"]["outputs"][0]
    assert (publish_out["namespace"], publish_out["name"]) == (PROJECT, "publish")
    checked = [
        e for e in events if e["job"]["name"] == "publish.checks" and e["eventType"] == "COMPLETE"
    ]
    assert checked, sorted({e["job"]["name"] for e in events})


def test_the_cli_materializes_values_and_says_nothing_was_stored_for_side_effects(shop):
    result = CliRunner().invoke(main, ["materialize"])
    assert result.exit_code == 0, result.output
    assert "publish  nothing stored" in result.output
    assert "summary  23 B" in result.output
    checked = CliRunner().invoke(main, ["check"])
    assert checked.exit_code == 0, checked.output
    assert "4 results: 4 passed." in checked.output


MISMATCHED = {
    "frame-of-json": (
        "import polars as pl\n@asset\ndef summary() -> dict:\n    return {}\n"
        "@asset\ndef down(summary: pl.DataFrame) -> pl.DataFrame:\n    return summary\n",
        "input 'summary' of asset 'down' reads asset 'summary', which stores json: "
        "annotate the input dict, list, str, int, float, bool, None (or no annotation)",
    ),
    "dict-of-parquet": (
        "import polars as pl\n@asset\ndef orders() -> pl.DataFrame:\n    return pl.DataFrame()\n"
        "@asset\ndef down(orders: dict) -> dict:\n    return orders\n",
        "input 'orders' of asset 'down' reads asset 'orders', which stores frames: "
        "annotate the input pl.DataFrame (or no annotation), pl.LazyFrame or pa.Table",
    ),
    "input-of-a-side-effect": (
        "@asset\ndef publish() -> None: ...\n@asset\ndef down(publish) -> dict:\n    return {}\n",
        "reads asset 'publish', which stores nothing (it is annotated `-> None`): "
        "depend on it with deps=[...]",
    ),
    "class-of-json": (
        "class Model: ...\n@asset(io=JSONIO())\ndef model():\n    return {}\n"
        "@asset\ndef down(model: Model) -> dict:\n    return {}\n",
        "input 'model' of asset 'down' reads asset 'model', which stores json",
    ),
    "dict-of-files": (
        "from pathlib import Path\n@asset\ndef chart() -> Path: ...\n"
        "@asset\ndef down(chart: dict) -> dict:\n    return {}\n",
        "which stores files: annotate the input Path (or no annotation) or bytes",
    ),
    "schema-on-json": (
        "import pandera.polars as pa\nclass S(pa.DataFrameModel):\n    x: int\n"
        "@asset(schema=S, io=JSONIO())\ndef summary():\n    return {}\n",
        "schema= validates frames, and this asset stores json; drop schema=, or check its "
        "value with an @asset_check",
    ),
}


@pytest.mark.parametrize(("body", "error"), MISMATCHED.values(), ids=MISMATCHED.keys())
def test_a_type_mismatch_is_a_one_line_definition_error(tmp_path, monkeypatch, body, error):
    monkeypatch.delenv("ASSAY_MODULE", raising=False)
    monkeypatch.delenv("ASSAY_HOME", raising=False)
    module = f"mismatch_{abs(hash((str(tmp_path), body))) % 10**8}"
    (tmp_path / f"{module}.py").write_text("from assay import JSONIO, asset\n" + body)
    (tmp_path / "pyproject.toml").write_text(f'[tool.assay]\nmodule = "{module}"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["plan"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert error in lines[0]


def test_a_value_for_the_default_parquet_io_fails_saying_how_to_store_it(tmp_path, monkeypatch):
    module = f"untyped_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{module}.py").write_text(
        "from assay import asset\n@asset\ndef config():\n    return {'a': 1}\n"
        "@asset\ndef nothing():\n    return None\n"
    )
    (tmp_path / "pyproject.toml").write_text(f'[tool.assay]\nmodule = "{module}"\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["materialize"])
    assert result.exit_code == 1, result.output
    assert (
        "asset 'config' returned dict; return a polars DataFrame, a polars LazyFrame or a "
        "pyarrow Table, or store it with another IO manager: @asset(io=JSONIO()) for JSON "
        "values, FileIO() for bytes or a Path, PickleIO() for any object"
    ) in result.output
    assert (
        "asset 'nothing' returned None, and its IO manager stores frames; annotate it `-> None`"
    ) in result.output
