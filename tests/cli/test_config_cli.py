"""Run configuration: typed values from files, flags, the environment and Python; part
of provenance, so other values make partitions stale."""

import json

import polars as pl
import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from tests.conftest import wait_for
from tests.openlineage_spec import assert_well_formed

TOKEN = {"SHOP_TOKEN": "t"}


def invoke(*args, env=None):
    return CliRunner().invoke(
        main, list(args), catch_exceptions=False, env={**TOKEN, **(env or {})}
    )


def scored(root, day="2024-01-01"):
    return pl.read_parquet(root / f".assay/storage/scored/partition={day}/data.parquet")


def test_other_values_make_partitions_stale_and_say_which(make_project):
    root = make_project("resourced")
    assert invoke("materialize").exit_code == 0
    assert scored(root)["region"].to_list() == ["eu", "eu"]
    assert invoke("plan", "--exit-code").exit_code == 0
    plan = invoke("plan", "--set", "scored.threshold=0.3", "--set", "scored.region=us")
    assert "config changed (region 'eu' → 'us', threshold 0.05 → 0.3)" in plan.output
    assert "orders" not in plan.output
    done = invoke("materialize", "--set", "scored.threshold=0.3", "--set", "scored.region=us")
    assert done.exit_code == 0, done.output
    assert scored(root)["region"].to_list() == ["us"]  # one order is over 0.3
    assert (
        invoke(
            "plan", "--exit-code", "--set", "scored.threshold=0.3", "--set", "scored.region=us"
        ).exit_code
        == 0
    )
    why = invoke("why", "scored", "-p", "2024-01-02").output
    assert "config changed (region 'us' → 'eu', threshold 0.3 → 0.05)  (root cause)" in why
    runs = json.loads(invoke("runs", "--json").output)
    shown = invoke("runs", "show", runs[0]["run_id"]).output
    assert (
        "config of scored: region='us', since='2024-01-01', threshold=0.3, tiers=['gold']" in shown
    )


def test_lineage_records_the_values(make_project):
    make_project("resourced")
    assert invoke("materialize", "--set", "scored.region=us").exit_code == 0
    project = assay.load()
    events = [
        json.loads(text)
        for text in assay.lineage.open(project.config.home).events(asset="scored")["event"]
    ]
    assert_well_formed(events)  # the facet with its config validates against its schema
    done = [e for e in events if e["eventType"] == "COMPLETE"]
    assert len(done) == 3
    assert all(e["run"]["facets"]["assay_provenance"]["config"]["region"] == "us" for e in done)


def test_layers_stack_pyproject_environment_file_and_set(make_project, tmp_path):
    root = make_project(
        "resourced", extra_toml='\n[tool.assay.config.scored]\nregion = "pyproject"\n'
    )
    assert invoke("materialize").exit_code == 0
    assert scored(root)["region"][0] == "pyproject"
    (tmp_path / "env.json").write_text('{"scored": {"region": "env"}}')
    invoke("materialize", env={"ASSAY_CONFIG": str(tmp_path / "env.json")})
    assert scored(root)["region"][0] == "env"
    (tmp_path / "run.yaml").write_text("scored:\n  region: yaml\n  tiers: [gold, silver]\n")
    invoke(
        "materialize",
        "--config",
        str(tmp_path / "run.yaml"),
        env={"ASSAY_CONFIG": str(tmp_path / "env.json")},
    )
    assert scored(root)[["region", "tiers"]].row(0) == ("yaml", "gold,silver")
    (tmp_path / "run.toml").write_text('[scored]\nregion = "toml"\nsince = 2024-02-01\n')
    result = invoke(
        "materialize", "--config", str(tmp_path / "run.toml"), "--set", "scored.region=flag"
    )
    assert result.exit_code == 0, result.output
    assert scored(root)[["region", "since"]].row(0) == ("flag", "2024-02-01")


def test_python_values_and_dataclass_instances(make_project, monkeypatch):
    root = make_project("resourced")
    monkeypatch.setenv("SHOP_TOKEN", "t")
    project = assay.load()
    module = __import__(project.config.module)
    result = project.materialize(
        "+scored", config={"scored": module.ScoreConfig(threshold=0.3, region="py")}
    )
    assert result.success, [s.failure for s in result.steps]
    assert scored(root)["region"].to_list() == ["py"]
    plan = project.plan("scored", config={"scored": {"threshold": 0.3, "region": "py"}})
    assert plan.is_empty  # the same values, whichever way they were given


def test_a_plan_keeps_its_values_and_applying_it_uses_them(make_project, tmp_path):
    root = make_project("resourced")
    planned = invoke("plan", "--json", "--set", "scored.region=planned")
    (tmp_path / "plan.json").write_text(planned.output)
    assert json.loads(planned.output)["config"]["scored"]["region"] == "planned"
    applied = invoke("materialize", "--plan", str(tmp_path / "plan.json"))
    assert applied.exit_code == 0, applied.output
    assert scored(root)["region"][0] == "planned"


def test_a_resumed_backfill_uses_the_values_it_started_with(make_project):
    root = make_project("resourced")
    assert invoke("materialize", "orders").exit_code == 0
    started = invoke("backfill", "start", "scored", "--set", "scored.region=broken")
    assert started.exit_code == 1  # 2024-01-02 fails with that region
    backfill = json.loads(invoke("backfill", "list", "--json").output)[0]["backfill_id"]
    module = root / f"{assay.load().config.module}.py"
    module.write_text(  # fixed: the resume must still run with the backfill's region
        module.read_text().replace('config.region == "broken"', 'config.region == "never"')
    )
    resumed = invoke("backfill", "resume", backfill)
    assert resumed.exit_code == 0, resumed.output
    assert scored(root, "2024-01-02")["region"][0] == "broken"


def test_workers_receive_the_values(make_project):
    root = make_project("resourced")
    result = invoke(
        "materialize",
        "+scored",
        "--executor",
        "multiprocess",
        "--workers",
        "2",
        "--set",
        "scored.tiers=gold,silver",
        "--set",
        "scored.since=2024-03-01",
    )
    assert result.exit_code == 0, result.output
    assert scored(root)[["tiers", "since"]].row(0) == ("gold,silver", "2024-03-01")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "scored.threshold=high"],
            "configuration of 'scored': threshold: expected a number, got 'high' (from --set)",
        ),
        (
            ["--set", "scored.treshold=1"],
            "no field 'treshold' (from --set). Did you mean 'threshold'?",
        ),
        (
            ["--set", "scroed.threshold=1"],
            "--set configures 'scroed', which is no asset. Did you mean 'scored'?",
        ),
        (["--set", "orders.x=1"], "asset 'orders' takes no configuration"),
        (
            ["--set", "scored.tiers=bronze"],
            "tiers[0]: expected one of 'gold', 'silver', got 'bronze'",
        ),
        (["--set", "threshold=1"], "--set 'threshold=1': write ASSET.FIELD=VALUE"),
        (["--config", "nowhere.yaml"], "--config nowhere.yaml: cannot read it"),
        (["--config", "list.json"], "--config list.json must map asset keys to their fields"),
        (["--config", "pyproject.toml"], "configures 'project', which is no asset"),
    ],
    ids=[
        *("type", "field", "asset", "unconfigured", "enum", "malformed"),
        *("no-file", "not-a-map", "not-assets"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(make_project, args, message):
    root = make_project("resourced")
    (root / "list.json").write_text("[1, 2]")
    result = invoke("materialize", *args)
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (assay.load().config.home / "journal").exists()


def test_a_field_without_a_default_must_be_given(tmp_path, monkeypatch):
    (tmp_path / "pipeline.py").write_text(
        "from dataclasses import dataclass\nimport polars as pl\nfrom assay import asset\n"
        "@dataclass\nclass Limit:\n    rows: int\n"
        "@asset\ndef sample(config: Limit): return pl.DataFrame({'n': range(config.rows)})\n"
    )
    monkeypatch.chdir(tmp_path)
    missing = invoke("materialize", "-f", "pipeline.py")
    assert missing.exit_code == 2
    assert "configuration of 'sample': field 'rows' has no default and no value" in missing.stderr
    given = invoke("materialize", "-f", "pipeline.py", "--set", "sample.rows=3")
    assert given.exit_code == 0, given.output
    assert pl.read_parquet(tmp_path / ".assay/storage/sample/data.parquet").height == 3


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (
            "def a(config): ...",
            "input 'config' of a matches no asset: for run configuration, annotate it "
            "with a dataclass",
        ),
        (
            "def a(config: dict): ...",  # a dict input (a JSON asset named config)
            "input 'config' of a matches no asset: for run configuration, annotate it ",
        ),
        (
            "@dataclass\nclass C:\n    f: object = None\n@asset\ndef a(config: C): ...",
            "field 'f' has type object, which a configuration file cannot hold",
        ),
        (
            "@dataclass\nclass C:\n    token: str = EnvVar('T')\n@asset\ndef a(config: C): ...",
            "secrets belong in a resource",
        ),
    ],
    ids=["unannotated", "not-a-dataclass", "unsupported-type", "secret-default"],
)
def test_configuration_declarations_are_checked(tmp_path, monkeypatch, declaration, message):
    body = declaration if declaration.startswith("@dataclass") else "@asset\n" + declaration
    (tmp_path / "pipeline.py").write_text(
        "from dataclasses import dataclass\nfrom assay import EnvVar, asset\n" + body + "\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("list", "-f", "pipeline.py")
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr


def test_a_detached_run_gets_the_values_it_was_launched_with(make_project):
    root = make_project("resourced")
    launched = invoke("materialize", "+scored", "--detach", "--set", "scored.region=detached")
    assert launched.exit_code == 0, launched.output

    def done():
        runs = json.loads(invoke("runs", "--json").output)
        return runs and runs[0]["status"] == "succeeded"

    wait_for(done, 120)
    assert scored(root)["region"].to_list() == ["detached", "detached"]


def test_a_retried_run_uses_the_values_of_the_run_it_retries(make_project):
    root = make_project("resourced")
    assert invoke("materialize", "orders").exit_code == 0
    failed = invoke("materialize", "scored", "--set", "scored.region=broken")
    assert failed.exit_code == 1
    module = root / f"{assay.load().config.module}.py"
    module.write_text(
        module.read_text().replace('config.region == "broken"', 'config.region == "never"')
    )
    run_id = json.loads(invoke("runs", "--json").output)[0]["run_id"]
    retried = invoke("runs", "retry", run_id)
    assert retried.exit_code == 0, retried.output
    assert scored(root, "2024-01-02")["region"][0] == "broken"


def test_a_multi_asset_has_one_configuration(tmp_path, monkeypatch):
    (tmp_path / "pipeline.py").write_text(
        "from dataclasses import dataclass\nimport polars as pl\n"
        "from assay import AssetOut, multi_asset\n"
        "@dataclass\nclass Cfg:\n    n: int = 1\n"
        "@multi_asset(outs={'left': AssetOut(), 'right': AssetOut()})\n"
        "def pair(config: Cfg):\n"
        "    return {'left': pl.DataFrame({'n': [config.n]}), "
        "'right': pl.DataFrame({'n': [config.n]})}\n"
    )
    monkeypatch.chdir(tmp_path)
    twice = invoke("materialize", "-f", "pipeline.py", "--set", "left.n=5", "--set", "right.n=7")
    assert twice.exit_code == 2
    assert "configures @multi_asset 'pair' twice ('left' and 'right')" in twice.stderr
    assert invoke("materialize", "-f", "pipeline.py", "--set", "pair.n=5").exit_code == 0
    for side in ("left", "right"):
        assert pl.read_parquet(tmp_path / f".assay/storage/{side}/data.parquet")["n"][0] == 5
    stale = invoke("plan", "-f", "pipeline.py", "--set", "right.n=6").output
    assert "config changed (n 5 → 6)" in stale
    assert "left" in stale
    run_id = json.loads(invoke("runs", "--json").output)[0]["run_id"]
    assert "config of right: n=5" in invoke("runs", "show", run_id).output


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_numbers_that_are_not_finite_are_refused(make_project, value):
    make_project("resourced")
    result = invoke("plan", "--set", f"scored.threshold={value}")
    assert result.exit_code == 2
    assert "threshold: expected a finite number" in result.stderr


def test_a_plan_file_refuses_other_values(make_project, tmp_path):
    make_project("resourced")
    (tmp_path / "plan.json").write_text(invoke("plan", "--json").output)
    refused = invoke("materialize", "--plan", str(tmp_path / "plan.json"), "--set", "scored.n=1")
    assert refused.exit_code == 2
    assert "a plan carries the configuration it was made with" in refused.stderr


def test_config_files_that_are_not_text_or_not_yaml_are_one_line(make_project):
    root = make_project("resourced")
    (root / "bin.json").write_bytes(b"\xff\xfe")
    (root / "bad.yaml").write_text("scored:\n  threshold: [1\n")
    for name, message in (("bin.json", "is not UTF-8 text"), ("bad.yaml", "is not valid YAML")):
        result = invoke("plan", "--config", name)
        assert result.exit_code == 2
        assert message in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr


def test_a_nested_secret_default_is_refused(tmp_path, monkeypatch):
    (tmp_path / "pipeline.py").write_text(
        "from dataclasses import dataclass, field\nfrom assay import EnvVar, asset\n"
        "@dataclass\nclass Inner:\n    token: str = EnvVar('TOKEN')\n"
        "@dataclass\nclass C:\n    inner: Inner = field(default_factory=Inner)\n"
        "@asset\ndef a(config: C): ...\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("list", "-f", "pipeline.py")
    assert result.exit_code == 2
    assert "defaults to EnvVar('TOKEN')" in result.stderr
