"""Dynamic partitions through the CLI and the Python API: keys added and removed at
run time, planned, materialized and backfilled like any other partition keys."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest
from click.testing import CliRunner

import assay
from assay import DynamicPartitions
from assay.cli.main import main
from assay.errors import DefinitionError, PartitionKeyError
from tests.conftest import ASSAY, clean_env


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def keys(name: str = "customers") -> list[str]:
    result = invoke("partitions", "list", name, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["keys"]


def plan_steps() -> dict[str, dict]:
    result = invoke("plan", "--json")
    assert result.exit_code == 0, result.output
    return {step["asset"]: step for step in json.loads(result.output)["steps"]}


def test_keys_are_added_in_order_once_and_listed(make_project):
    make_project("customers")
    assert keys() == []
    result = invoke("partitions", "add", "customers", "acme", "globex")
    assert result.exit_code == 0, result.output
    assert "Added 2 key(s) to customers: acme, globex" in result.output
    result = invoke("partitions", "add", "customers", "initech", "acme")
    assert "Added 1 key(s) to customers (1 already present): initech" in result.output
    assert keys() == ["acme", "globex", "initech"]
    result = invoke("partitions", "list", "--json")
    assert json.loads(result.output) == [
        {"name": "customers", "keys": 3, "assets": ["orders", "order_totals"]}
    ]
    # removed, then added again: it comes last
    assert invoke("partitions", "remove", "customers", "acme").exit_code == 0
    assert invoke("partitions", "add", "customers", "acme").exit_code == 0
    assert keys() == ["globex", "initech", "acme"]


def test_plan_materialize_and_backfill_work_on_the_added_keys(make_project):
    root = make_project("customers")
    assert plan_steps().keys() == {"all_customers"}  # no customer yet: only the reader
    invoke("partitions", "add", "customers", "acme", "globex", "initech", "hooli")
    steps = plan_steps()
    assert steps["orders"]["count"] == 4
    result = invoke("materialize", "orders", "order_totals", "-p", "globex")
    assert result.exit_code == 0, result.output
    assert "orders[globex]" in result.output
    assert "orders[acme]" not in result.output
    stored = pl.read_parquet(root / ".assay/storage/order_totals/partition=globex/data.parquet")
    assert stored.to_dicts() == [{"customer": "globex", "amount": sum(range(6))}]
    # a range runs over the keys in the order they were added
    result = invoke("backfill", "start", "orders", "--from", "globex", "--to", "hooli")
    assert result.exit_code == 0, result.output
    assert "2 asset partitions" in result.output  # initech and hooli: globex is fresh
    result = invoke("backfill", "start", "+order_totals", "-p", "acme", "-p", "hooli")
    assert result.exit_code == 0, result.output
    assert "3 asset partitions" in result.output  # orders[hooli] is fresh
    steps = plan_steps()
    assert steps.keys() == {"order_totals", "all_customers"}
    assert steps["order_totals"]["partitions"] == "initech"
    listed = {row["key"]: row for row in json.loads(invoke("list", "--json").output)}
    assert listed["orders"]["partitions"] == {"count": 4, "stored": 4, "stale": 0, "missing": 0}


def test_removing_a_key_makes_readers_of_every_partition_stale(make_project):
    make_project("customers")
    invoke("partitions", "add", "customers", "acme", "globex")
    assert invoke("materialize").exit_code == 0
    assert plan_steps() == {}
    result = invoke("partitions", "remove", "customers", "globex")
    assert result.exit_code == 0, result.output
    assert "Removed 1 key(s) from customers: globex" in result.output
    steps = plan_steps()
    assert steps.keys() == {"all_customers"}  # the removed partitions are not planned
    assert steps["all_customers"]["reasons"] == ["upstream partitions removed"]
    why = invoke("why", "all_customers")
    assert "upstream order_totals no longer has partitions it read (globex)" in why.output
    listed = {row["key"]: row for row in json.loads(invoke("list", "--json").output)}
    assert listed["orders"]["partitions"] == {"count": 1, "stored": 1, "stale": 0, "missing": 0}
    assert invoke("materialize").exit_code == 0
    assert plan_steps() == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["add", "customers", "a/b"],
            "Error: invalid partition key 'a/b': it may not be '.' or '..' nor contain "
            "'/', '\\' or control characters",
        ),
        (["add", "customers", ".."], "Error: invalid partition key '..'"),
        (
            ["remove", "customers", "acme", "initek"],
            "Error: cannot remove 'initek': not a key of 'customers'. Did you mean 'initech'?",
        ),
        (
            ["list", "customer"],
            "Error: no asset has DynamicPartitions('customer'): Did you mean 'customers'?",
        ),
        (["add", "customers"], "Error: missing argument 'KEYS...'."),
    ],
    ids=["slash", "dots", "unknown-key", "unknown-name", "no-keys"],
)
def test_bad_keys_and_names_exit_2_with_one_line_and_change_nothing(make_project, args, message):
    make_project("customers")
    invoke("partitions", "add", "customers", "acme", "initech")
    result = invoke("partitions", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert keys() == ["acme", "initech"]


def test_a_key_unknown_to_the_definition_is_refused_by_plan_naming_the_keys(make_project):
    make_project("customers")
    invoke("partitions", "add", "customers", "acme")
    result = invoke("plan", "orders", "-p", "umbrella")
    assert result.exit_code == 2
    assert "partition key 'umbrella' is not in dynamic partitions 'customers'" in result.stderr
    assert "valid keys are acme" in result.stderr


def test_a_backfill_resumes_without_the_keys_removed_since(make_project, monkeypatch):
    make_project("customers")
    invoke("partitions", "add", "customers", "acme", "red", "globex")
    monkeypatch.setenv("CUSTOMERS_FAIL", "red,globex")
    result = CliRunner().invoke(main, ["backfill", "start", "orders", "order_totals"])
    assert result.exit_code == 1
    monkeypatch.delenv("CUSTOMERS_FAIL")
    status = invoke("backfill", "status")
    assert "orders[red]  failed  RuntimeError: no export for red" in status.output  # not markup
    assert invoke("partitions", "remove", "customers", "red").exit_code == 0
    result = invoke("backfill", "resume")
    assert result.exit_code == 0, result.output
    assert "2 asset partitions" in result.output  # globex's two; red's are gone
    steps = plan_steps()
    assert steps.keys() == {"all_customers"}


def test_the_python_api_adds_lists_and_removes(make_project):
    root = make_project("customers")
    project = assay.load()
    assert project.add_partitions("customers", ["acme", "globex"]) == ["acme", "globex"]
    assert project.add_partitions("customers", ["acme"]) == []
    assert project.partition_keys("customers") == ["acme", "globex"]
    result = project.materialize("orders", partitions=["acme"])
    assert result.success
    assert project.remove_partitions("customers", ["globex"]) == ["globex"]
    assert project.partition_keys("customers") == ["acme"]
    with pytest.raises(PartitionKeyError, match="cannot remove 'globex': not a key"):
        project.remove_partitions("customers", ["globex"])
    with pytest.raises(PartitionKeyError, match="no asset has DynamicPartitions"):
        project.add_partitions("suppliers", ["x"])
    # another process (a new project object) sees the same keys
    assert assay.load(home=root / ".assay").partition_keys("customers") == ["acme"]


def test_a_plan_file_keeps_its_keys_when_keys_change_before_it_is_applied(make_project, tmp_path):
    make_project("customers")
    invoke("partitions", "add", "customers", "acme", "globex")
    plan = tmp_path / "plan.json"
    plan.write_text(invoke("plan", "orders", "--json").output)
    assert json.loads(plan.read_text())["dynamic"] == {"customers": ["acme", "globex"]}
    invoke("partitions", "add", "customers", "hooli")
    result = invoke("materialize", "--plan", str(plan))
    assert result.exit_code == 0, result.output
    assert "orders[globex]" in result.output
    assert "orders[hooli]" not in result.output
    # a plan covering a key removed since is refused; one covering only others is not
    plan.write_text(invoke("plan", "orders", "--json").output)  # hooli
    invoke("partitions", "add", "customers", "initech")
    other = tmp_path / "other.json"
    other.write_text(invoke("plan", "orders", "-p", "initech", "--json").output)
    invoke("partitions", "remove", "customers", "hooli")
    result = invoke("materialize", "--plan", str(plan))
    assert result.exit_code == 2
    assert "keys of 'customers' were removed since it was made (hooli)" in result.stderr
    result = invoke("materialize", "--plan", str(other))
    assert result.exit_code == 0, result.output
    assert "orders[initech]" in result.output


def test_definitions_on_one_name_share_keys_and_the_identity_mapping():
    assert DynamicPartitions("customers") == DynamicPartitions("customers")
    assert DynamicPartitions("customers") != DynamicPartitions("suppliers")
    with pytest.raises(DefinitionError, match="invalid dynamic partitions name 'a b'"):
        DynamicPartitions("a b")
    with pytest.raises(DefinitionError, match="cannot be a dimension yet"):
        assay.MultiPartitions(
            {"day": assay.DailyPartitions(start="2024-01-01"), "who": DynamicPartitions("c")}
        )


def test_two_processes_adding_keys_at_once_lose_none(make_project):
    root = make_project("customers")
    invoke("partitions", "add", "customers", "first")  # the store exists: both race to index
    batches = [[f"a{i}" for i in range(40)], [f"b{i}" for i in range(40)]]
    processes = [
        subprocess.Popen(
            [str(ASSAY), "partitions", "add", "customers", *batch],
            cwd=root,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for batch in batches
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Added 40 key(s)" in out
    found = keys()
    assert sorted(found) == sorted(["first", *batches[0], *batches[1]])
    for batch in batches:  # each process's keys in the order it gave them
        assert [k for k in found if k in batch] == batch


def test_keys_added_while_a_notebook_holds_the_store_wait_in_the_journal(make_project):
    root = make_project("customers")
    invoke("partitions", "add", "customers", "acme")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(60)",
            str(root / ".assay" / "assay.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        result = invoke("partitions", "add", "customers", "acme", "globex")
        assert result.exit_code == 0, result.output
        assert "the keys wait in the journal until it is free" in result.stderr
        result = invoke("partitions", "remove", "customers", "acme")
        assert result.exit_code == 2
        assert "is held open by" in result.stderr
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert keys() == ["acme", "globex"]  # acme journaled twice: still once, first


def test_a_key_removed_and_added_again_is_new_again(make_project):
    make_project("customers")
    assert invoke("partitions", "add", "customers", "acme", "globex").exit_code == 0
    assert invoke("materialize").exit_code == 0
    assert invoke("partitions", "remove", "customers", "globex").exit_code == 0
    assert invoke("materialize").exit_code == 0
    assert invoke("partitions", "add", "customers", "globex").exit_code == 0
    plan = json.loads(invoke("plan", "--json").output)["steps"]
    stale = {step["asset"]: step["partitions"] for step in plan}
    assert stale == {  # what was stored of globex before does not count
        "orders": "globex",
        "order_totals": "globex",
        "all_customers": None,  # and what reads every customer reads it again
    }
