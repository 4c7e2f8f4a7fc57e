"""`assay lineage`: trees, Mermaid and JSON built from recorded events."""

import json
import subprocess

import pytest
from click.testing import CliRunner

from assay.cli.main import main
from tests.conftest import ASSAY, clean_env


@pytest.fixture
def ran(make_project, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    root = make_project("diamond")
    assert CliRunner().invoke(main, ["materialize"]).exit_code == 0
    return root


def lineage(*args: str):
    return CliRunner().invoke(main, ["lineage", *args])


def test_a_tree_shows_both_directions(ran):
    result = lineage("left")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("left  complete")
    assert "built from" in result.stdout
    assert "feeds" in result.stdout
    text = result.stdout
    assert text.index("built from") < text.index("source  complete") < text.index("feeds")
    assert text.index("feeds") < text.index("joined  complete")
    assert str(ran / ".assay" / "storage" / "source") in text


def test_depth_and_direction_limit_the_walk(ran):
    full = json.loads(lineage("joined", "--upstream", "--json").stdout)
    walked = [(r["asset"], r["depth"]) for r in full["upstream"]]
    assert walked == [("left", 1), ("right", 1), ("source", 2)]
    assert "downstream" not in full
    one = json.loads(lineage("joined", "--upstream", "--depth", "1", "--json").stdout)
    assert [r["asset"] for r in one["upstream"]] == ["left", "right"]
    assert one["jobs"]["left"]["last_state"] == "COMPLETE"
    down = json.loads(lineage("source", "--downstream", "--json").stdout)
    assert {r["asset"] for r in down["downstream"]} == {"left", "right", "joined"}


def test_mermaid_draws_the_recorded_graph(ran):
    result = lineage("joined", "--format", "mermaid")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "graph LR"
    ids = {line.split("[")[0].strip(): line.split('"')[1] for line in lines if '["' in line}
    edges = {
        (ids[a], ids[b])
        for a, b in (line.strip().split(" --> ") for line in lines if "-->" in line)
    }
    assert edges == {
        ("source", "left"),
        ("source", "right"),
        ("left", "joined"),
        ("right", "joined"),
    }


def test_unknown_assets_and_empty_stores_get_one_line(make_project):
    make_project("diamond")
    empty = lineage("source")
    assert empty.exit_code == 2
    assert "no lineage is recorded" in empty.output
    assert "assay materialize" in empty.output
    CliRunner().invoke(main, ["materialize"])
    typo = lineage("lef")
    assert typo.exit_code == 2
    assert typo.output.strip().splitlines() == [
        "Error: no lineage recorded for 'lef': lineage holds what ran, so materialize it "
        "first. Did you mean 'left'?"
    ]
    assert lineage("source", "--depth", "0").exit_code == 2


def test_the_installed_command_prints_lineage(ran):
    done = subprocess.run(
        [str(ASSAY), "lineage", "joined", "--upstream", "--json"],
        cwd=ran,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    upstream = {row["asset"] for row in json.loads(done.stdout)["upstream"]}
    assert upstream == {"source", "left", "right"}
