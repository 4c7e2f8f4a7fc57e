"""Resources and secrets: built where steps run, torn down after, never recorded."""

import json
import os

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from assay.cli.main import main

SECRET = "s3cr3t-t0ken-value"


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def lines(root):
    log = root / "resource.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_missing_secret_stops_the_run_before_anything_runs(make_project):
    root = make_project("resourced")
    result = invoke("materialize", env={"SHOP_TOKEN": None})
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.count("\n") == 0, message
    assert "resource 'shop' reads the environment variable SHOP_TOKEN" in message
    assert not lines(root)
    assert not (root / ".assay" / "journal").exists() or not any(
        (root / ".assay" / "journal").iterdir()
    )


def test_resources_are_set_up_once_per_run_and_torn_down_after(make_project):
    root = make_project("resourced")
    result = invoke("materialize", env={"SHOP_TOKEN": SECRET})
    assert result.exit_code == 0, result.output
    here = str(os.getpid())
    assert lines(root) == [f"setup http://127.0.0.1:9 {here}", f"teardown {here}"]
    orders = pl.read_parquet(root / ".assay/storage/orders/*/data.parquet")
    assert orders["token_length"].unique().to_list() == [len(SECRET)]
    report = pl.read_parquet(root / ".assay/storage/report/data.parquet")
    assert report.to_dicts() == [{"days": 3, "amount": pytest.approx(3 * 0.7)}]
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM main.totals").fetchone() == (3,)


def test_the_secret_is_never_journaled_indexed_or_shown(make_project):
    root = make_project("resourced")
    assert invoke("materialize", env={"SHOP_TOKEN": SECRET}).exit_code == 0
    shown = invoke("runs", "show", "--json", _latest_run(root)).output
    shown += invoke("lineage", "show", "orders").output
    assert SECRET not in shown
    for path in (root / ".assay").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def _latest_run(root):
    runs = json.loads(invoke("runs", "--json").output)
    return runs[0]["run_id"]


def test_worker_processes_build_their_own_resources(make_project):
    root = make_project("resourced")
    result = invoke(
        "materialize",
        "orders",
        "--executor",
        "multiprocess",
        "--workers",
        "2",
        env={"SHOP_TOKEN": SECRET},
    )
    assert result.exit_code == 0, result.output
    found = lines(root)
    setups = [line.split()[-1] for line in found if line.startswith("setup")]
    teardowns = [line.split()[-1] for line in found if line.startswith("teardown")]
    assert setups
    assert str(os.getpid()) not in setups
    assert sorted(setups) == sorted(teardowns)  # each torn down as its worker exits


@pytest.mark.slow
def test_dask_workers_build_their_own_resources(make_project):
    root = make_project("resourced")
    result = invoke(
        "materialize",
        "orders",
        "--executor",
        "dask",
        "--workers",
        "2",
        env={"SHOP_TOKEN": SECRET},
    )
    assert result.exit_code == 0, result.output
    setups = {line.split()[-1] for line in lines(root) if line.startswith("setup")}
    assert setups
    assert str(os.getpid()) not in setups
    orders = pl.read_parquet(root / ".assay/storage/orders/*/data.parquet")
    assert orders["token_length"].unique().to_list() == [len(SECRET)]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "@asset(io='warehose')\ndef a(): ...\n"
            "defs = Definitions(assets=[a], resources={'warehouse': DuckDBIO()})",
            "@asset a: io='warehose' names no resource: add Definitions(resources="
            "{'warehose': DuckDBIO(...)}) or pass the IO manager itself. Did you mean "
            "'warehouse'?",
        ),
        (
            "@asset(io='api')\ndef a(): ...\ndefs = Definitions(assets=[a], resources={'api': 1})",
            "io='api' names resource 'api', which is not an IO manager",
        ),
        (
            "class Api(Resource): ...\n@asset\ndef a(api: Api): ...\n"
            "defs = Definitions(assets=[a])",
            "parameter 'api' of a is annotated as a resource, but the project has no "
            "resource 'api'",
        ),
        (
            "@asset\ndef api(): ...\n@asset\ndef a(api): ...\n"
            "defs = Definitions(assets=[api, a], resources={'api': object()})",
            "parameter 'api' of a names both a resource and an asset: say ins={'api': "
            "AssetIn()} to read the asset",
        ),
        (
            "@asset\ndef a(): ...\ndefs = Definitions(assets=[a], resources={'config': 1})",
            "'config' cannot name a resource",
        ),
    ],
    ids=["unknown-io", "not-an-io-manager", "annotated-missing", "ambiguous", "reserved"],
)
def test_resource_mistakes_are_definition_errors(tmp_path, monkeypatch, code, message):
    (tmp_path / "pipeline.py").write_text(
        "from assay import AssetIn, Definitions, DuckDBIO, Resource, asset\n" + code + "\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("list", "-f", "pipeline.py")
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_an_input_named_in_ins_reads_the_asset_not_the_resource(tmp_path, monkeypatch):
    (tmp_path / "pipeline.py").write_text(
        "import polars as pl\n"
        "from assay import AssetIn, Definitions, asset\n"
        "@asset\ndef api(): return pl.DataFrame({'n': [1]})\n"
        "@asset(ins={'api': AssetIn()})\ndef a(api): return api\n"
        "@asset\ndef b(api: pl.DataFrame, client): return pl.DataFrame({'c': [client]})\n"
        "defs = Definitions(assets=[api, a], resources={'api': 'client', 'client': 'plain'})\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("materialize", "-f", "pipeline.py")
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / ".assay/storage/a/data.parquet")["n"].to_list() == [1]


def test_an_observe_function_takes_resources(tmp_path, monkeypatch):
    (tmp_path / "pipeline.py").write_text(
        "from dataclasses import dataclass\n"
        "from pathlib import Path\n"
        "import polars as pl\n"
        "from assay import Definitions, EnvVar, Resource, asset, source_asset\n"
        "@dataclass\n"
        "class Exports(Resource):\n"
        "    folder: str\n"
        "    token: str = EnvVar('EXPORTS_TOKEN')\n"
        "    def setup(self): Path('opened').write_text(self.token)\n"
        "    def teardown(self): Path('opened').unlink()\n"
        "    def version(self): return str(len(list(Path(self.folder).glob('*.csv'))))\n"
        "@source_asset\n"
        "def drops(exports: Exports) -> str:\n"
        "    return exports.version()\n"
        "@asset(deps=[drops])\n"
        "def loaded(): return pl.DataFrame({'n': [1]})\n"
        "defs = Definitions(assets=[drops, loaded], resources={'exports': Exports('in')})\n"
    )
    (tmp_path / "in").mkdir()
    monkeypatch.chdir(tmp_path)
    observed = invoke("observe", "-f", "pipeline.py", "--json", env={"EXPORTS_TOKEN": "x"})
    assert observed.exit_code == 0, observed.output
    assert json.loads(observed.output)[0]["data_version"] == "0"
    assert not (tmp_path / "opened").exists()  # torn down after the observation
    wrong = tmp_path / "pipeline.py"
    wrong.write_text(wrong.read_text().replace("def drops(exports: Exports)", "def drops(api)"))
    refused = invoke("list", "-f", "pipeline.py")
    assert refused.exit_code == 2
    assert "the observe function of source drops takes 'api', which names no resource" in (
        refused.stderr
    )


def test_a_check_takes_resources_in_a_run_and_in_assay_check(tmp_path, monkeypatch):
    (tmp_path / "pipeline.py").write_text(
        "import polars as pl\n"
        "from assay import Definitions, asset, asset_check\n"
        "@asset\ndef prices(): return pl.DataFrame({'sku': ['a', 'b'], 'price': [1.0, 9.0]})\n"
        "@asset_check(asset='prices')\n"
        "def under_the_limit(prices, context, limits):\n"
        "    return bool((prices['price'] <= limits['price']).all())\n"
        "defs = Definitions(assets=[prices], checks=[under_the_limit],\n"
        "                   resources={'limits': {'price': LIMIT}})\n"
    )
    monkeypatch.chdir(tmp_path)
    source = (tmp_path / "pipeline.py").read_text()
    (tmp_path / "pipeline.py").write_text(source.replace("LIMIT", "10.0"))
    assert invoke("materialize", "-f", "pipeline.py").exit_code == 0
    (tmp_path / "pipeline.py").write_text(source.replace("LIMIT", "5.0"))
    checked = invoke("check", "-f", "pipeline.py", "--json")
    rows = json.loads(checked.stdout)["results"]
    assert [(r["check"], r["status"]) for r in rows] == [("under_the_limit", "failed")]
    (tmp_path / "pipeline.py").write_text(
        source.replace("LIMIT", "5.0")
        .replace("limits['price']", "nope['price']")
        .replace("context, limits", "context, nope")
    )
    refused = invoke("list", "-f", "pipeline.py")
    assert refused.exit_code == 2
    assert "@asset_check 'under_the_limit' takes 'nope' after the asset's value" in refused.stderr


def test_an_io_manager_resource_reads_its_secrets_and_nested_resources_are_torn_down(
    tmp_path, monkeypatch
):
    (tmp_path / "pipeline.py").write_text(
        "from dataclasses import dataclass\nfrom pathlib import Path\nimport polars as pl\n"
        "from assay import Definitions, DuckDBIO, EnvVar, Resource, asset\n"
        "def note(line):\n    with open('events.log', 'a') as out: out.write(line + '\\n')\n"
        "@dataclass\nclass Conn(Resource):\n    dsn: str = EnvVar('DSN')\n"
        "    def setup(self): note('conn setup')\n    def teardown(self): note('conn teardown')\n"
        "@dataclass\nclass Repo(Resource):\n    conn: Conn\n"
        "    def setup(self): note('repo setup ' + repr(self.conn))\n"
        "    def teardown(self): note('repo teardown')\n"
        "@asset(io='warehouse')\ndef a(repo: Repo):\n"
        "    return pl.DataFrame({'n': [len(repo.conn.dsn)]})\n"
        "defs = Definitions(assets=[a], resources={'repo': Repo(Conn()),\n"
        "                   'warehouse': DuckDBIO(EnvVar('WH_PATH'))})\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "materialize", "-f", "pipeline.py", env={"DSN": "pg://s3cr3t", "WH_PATH": "wh.db"}
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "wh.db").exists()
    events = (tmp_path / "events.log").read_text().splitlines()
    assert events == [
        "conn setup",
        "repo setup Conn(dsn=Secret('****'))",
        "repo teardown",
        "conn teardown",
    ]
