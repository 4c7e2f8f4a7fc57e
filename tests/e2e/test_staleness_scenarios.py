"""Staleness scenarios, through the Python API on real state: one change each,
then exactly which partitions are stale, and why. (The planner's own unit tests,
on state given as arrays, are tests/unit/planning/test_planner.py.)"""

import shutil

import pytest

import assay
from tests.conftest import PROJECTS

WEEK = "2024-01-01..2024-01-07 (7)"
SWITCHES = ("ROOT_CHANGE", "ROOT_CODE", "CONFIG", "CLICK_CHANGE")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    """The stale_chain project, materialized once for the module."""
    folder = tmp_path_factory.mktemp("stale_chain")
    (folder / "pyproject.toml").write_text("")
    path = folder / "stale_chain.py"
    shutil.copy(PROJECTS / "stale_chain.py", path)
    with pytest.MonkeyPatch.context() as patch:
        for name in SWITCHES:
            patch.delenv(name, raising=False)
        patch.chdir(folder)
        assert assay.load(file=path, home=folder / ".assay").materialize().success
    return folder


@pytest.fixture
def shop(materialized, tmp_path, monkeypatch):
    """A copy of the materialized project; returns a loader that re-imports it."""
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(materialized, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "stale_chain.py"
    monkeypatch.chdir(tmp_path)

    def load():
        return assay.load(file=path, home=tmp_path / ".assay")

    load.path = path
    return load


def stale(project, selection=None):
    """{asset: {reason kinds}} and {asset: folded partitions} of the plan."""
    steps = project.plan(selection).to_dicts()
    return {s["asset"]: (s["partitions"], set(s["reasons"])) for s in steps}


def materialize(project, selection, *partitions, force=True):
    result = project.materialize(selection, partitions=list(partitions), force=force)
    assert result.success, [s.error for s in result.steps]


def test_nothing_changed_nothing_is_stale(shop):
    assert shop().plan().is_empty


def test_missing_partitions_are_stale(shop, tmp_path):
    project = shop()
    shutil.rmtree(tmp_path / ".assay")
    assert stale(project)["root"] == (WEEK, {"missing"})


def test_code_change_makes_everything_downstream_stale_transitively(shop, monkeypatch):
    monkeypatch.setenv("ROOT_CODE", "2")
    plan = stale(shop())
    assert plan["root"] == (WEEK, {"code changed"})
    for asset in ("left", "right", "rolling", "configured"):
        assert plan[asset] == (WEEK, {"upstream stale"}), asset
    assert plan["joined"] == (WEEK, {"upstream stale"})  # two hops: no cut-off
    assert plan["total"] == (None, {"upstream stale"})
    assert "clicks" not in plan
    code = shop().plan("root").to_dicts()[0]["details"][0]
    assert (code["old"], code["new"]) == ("1", "2")
    assert code["description"] == "code version changed (1 → 2)"


def test_one_changed_partition_makes_exactly_its_readers_stale(shop, monkeypatch):
    monkeypatch.setenv("ROOT_CHANGE", "2024-01-03")
    materialize(shop(), "root", "2024-01-03")
    plan = stale(shop())
    assert plan["left"] == ("2024-01-03", {"input changed"})
    assert plan["right"] == ("2024-01-03", {"input changed"})
    assert plan["joined"] == ("2024-01-03", {"upstream stale"})
    assert plan["rolling"] == ("2024-01-03..2024-01-05 (3)", {"input changed"})
    assert plan["configured"] == ("2024-01-03", {"input changed"})
    assert plan["total"] == (None, {"upstream stale"})
    assert "root" not in plan
    detail = shop().plan("left").to_dicts()[0]["details"][0]
    assert detail["description"] == "upstream root changed in 2024-01-03"


def test_early_cut_off_same_data_again_changes_nothing(shop):
    materialize(shop(), "root", "2024-01-03", "2024-01-04")
    assert shop().plan().is_empty


def test_a_rerun_with_the_same_result_stops_the_cascade(shop, monkeypatch):
    monkeypatch.setenv("ROOT_CODE", "2")  # new code, same output
    project = shop()
    materialize(project, "root", force=False)
    assert shop().plan().is_empty


def test_comments_and_formatting_do_not_make_anything_stale(shop):
    text = shop.path.read_text()
    shop.path.write_text(
        text.replace(
            '    return root.with_columns(v=pl.col("v") + 1)',
            "    # add one\n    return root.with_columns(\n"
            '        v=pl.col("v") + 1,  # why not\n    )',
        )
    )
    assert shop().plan().is_empty


def test_changed_logic_makes_the_asset_and_its_downstream_stale(shop):
    text = shop.path.read_text()
    shop.path.write_text(text.replace('pl.col("v") + 1', 'pl.col("v") + 2'))
    plan = stale(shop())
    assert plan["left"] == (WEEK, {"code changed"})
    assert plan["joined"] == (WEEK, {"upstream stale"})
    assert set(plan) == {"left", "joined", "total"}


def test_added_dependency_is_a_reason(shop):
    text = shop.path.read_text()
    shop.path.write_text(
        text.replace(
            "@asset(partitions=DAYS)\ndef right",
            '@asset(partitions=DAYS, deps=["config"])\ndef right',
        )
    )
    plan = shop().plan("right").to_dicts()[0]
    assert plan["reasons"] == ["dependencies changed"]
    assert plan["details"][0]["description"] == "dependencies changed (+config)"


def test_an_unpartitioned_upstream_change_reaches_every_partition(shop, monkeypatch):
    monkeypatch.setenv("CONFIG", "3")
    materialize(shop(), "config")
    plan = stale(shop())
    assert plan["configured"] == (WEEK, {"input changed"})
    assert set(plan) == {"configured"}


def test_one_changed_hour_makes_only_its_day_stale(shop, monkeypatch):
    monkeypatch.setenv("CLICK_CHANGE", "2024-01-05-13:00")
    materialize(shop(), "clicks", "2024-01-05-13:00")
    assert stale(shop()) == {"daily_clicks": ("2024-01-05", {"input changed"})}


def test_selection_plans_only_selected_assets_but_knows_upstream_is_stale(shop, monkeypatch):
    monkeypatch.setenv("ROOT_CODE", "2")
    plan = stale(shop(), "joined")
    assert plan == {"joined": (WEEK, {"upstream stale"})}


def test_partition_selection_narrows_the_plan(shop, monkeypatch):
    monkeypatch.setenv("ROOT_CODE", "2")
    plan = shop().plan("root", partition_range=("2024-01-02", "2024-01-03")).to_dicts()
    assert plan[0]["partitions"] == "2024-01-02..2024-01-03 (2)"


def test_force_plans_fresh_partitions_with_the_reason_forced(shop):
    plan = shop().plan("left", partitions=["2024-01-02"], force=True).to_dicts()
    assert plan == [
        {
            "asset": "left",
            "partitions": "2024-01-02",
            "count": 1,
            "reasons": ["forced"],
            "details": [
                {
                    "kind": "forced",
                    "partitions": "2024-01-02",
                    "upstream": None,
                    "old": None,
                    "new": None,
                    "description": "forced",
                }
            ],
        }
    ]


def test_plan_as_polars(shop, monkeypatch):
    monkeypatch.setenv("ROOT_CODE", "2")
    frame = shop().plan().to_polars()
    assert set(frame.columns) >= {"asset", "kind", "partitions", "count", "description"}
    assert frame.filter(frame["asset"] == "root")["kind"].to_list() == ["code changed"]
