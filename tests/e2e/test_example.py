"""The example project and the documentation's examples, run as written."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from tests.conftest import clean_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]


def test_example_shop_runs_end_to_end(tmp_path, monkeypatch):
    from assets_example import generate

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("SHOP_LANDING", str(tmp_path / "landing"))
    generate.main([])
    project = assay.load(module="assets_example.shop", home=tmp_path / "home")
    project.observe()
    result = project.backfill(partition_range=("2024-01-01", "2024-02-29"))
    assert result.success, [s.error for s in result.steps if s.error]
    assert len(result.steps) == 4 * 60 + 2
    storage = tmp_path / "home/storage"
    cleaned = pl.read_parquet(storage / "cleaned_orders/*/data.parquet")
    assert cleaned["order_id"].is_unique().all()
    assert (cleaned["amount"] > 0).all()
    raw = pl.read_parquet(storage / "raw/orders/*/data.parquet")
    assert raw.height > cleaned.height  # duplicates, refunds and cancellations dropped
    with duckdb.connect(str(tmp_path / "home/warehouse.duckdb"), read_only=True) as con:
        daily = con.sql("SELECT * FROM main.daily_revenue ORDER BY order_date").pl()
    assert daily.height == 60
    clv = pl.read_parquet(storage / "customer_lifetime_value/data.parquet")
    assert clv.height == 500
    assert round(clv["lifetime_value"].sum(), 2) == round(daily["revenue"].sum(), 2)
    week = pl.read_parquet(storage / "rolling_revenue_7d/partition=2024-01-10/data.parquet")
    assert week["revenue_7d"].item() == round(daily["revenue"][3:10].sum(), 2)
    checked = project.check()
    assert checked.success, checked.failed
    warned = {(r["check"], r["partition_key"]) for r in checked.rows() if r["status"] != "passed"}
    assert warned == {("full_week", f"2024-01-0{d}") for d in range(1, 7)}
    assert project.plan().is_empty

    # regenerating writes the same bytes: nothing is stale
    generate.main([])
    project.observe()
    assert project.plan().is_empty
    # a corrected re-export of one day: that day, what reads it, and nothing else
    generate.main(["--day", "2024-02-10", "--bump"])
    project.observe()
    stale = {str(step.key): step.count for step in project.plan().steps}
    assert stale == {
        "raw/orders": 1,
        "cleaned_orders": 1,
        "daily_revenue": 1,
        "rolling_revenue_7d": 7,
        "customer_lifetime_value": 1,
    }


def test_make_demo_script_runs(tmp_path):
    done = subprocess.run(
        ["bash", "assets_example/demo.sh"],
        cwd=REPO,
        env=clean_env(ASSAY_HOME=str(tmp_path / "demo-home"), PATH=_venv_path()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "\x1b[" not in out, "no escape codes in a log, the headings' included"
    assert "==> The shop exports a CSV of orders" in out
    assert "6 assets, 242 asset partitions to materialize." in out
    assert "completed: 242 succeeded." in out
    assert "Nothing to do: every selected asset partition is fresh." in out
    assert "5 assets, 11 asset partitions to materialize." in out
    assert "succeeded (11 succeeded)." in out
    assert "customer_lifetime_value  complete" in out
    assert "order_date" in out


def _venv_path():
    import os
    import sys

    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_example_runs_as_written(tmp_path, monkeypatch):
    (code,) = _python_blocks(REPO / "README.md")
    assert len(code.strip().splitlines()) <= 20
    (tmp_path / "pipeline.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["materialize", "-f", "pipeline.py"])
    assert result.exit_code == 0, result.output
    revenue = pl.read_parquet(tmp_path / ".assay/storage/revenue/data.parquet").sort("customer")
    assert revenue.to_dicts() == [
        {"customer": "ada", "amount": 30.0},
        {"customer": "bob", "amount": 12.5},
    ]


def test_getting_started_project_runs_as_written(tmp_path, monkeypatch):
    text = (REPO / "docs/getting-started.md").read_text()
    toml = re.search(r"```toml\n(.*?)```", text, flags=re.S).group(1)
    (code,) = _python_blocks(REPO / "docs/getting-started.md")
    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir()
    (tmp_path / "pyproject.toml").write_text(toml)
    (tmp_path / "pipeline.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    commands = re.findall(r"^\$ assay (materialize[^#\n]*)", text, flags=re.M)
    assert len(commands) >= 6
    for command in commands:
        if "revnue" in command:
            continue
        result = runner.invoke(main, command.split())
        assert result.exit_code == 0, (command, result.output)
    typo = runner.invoke(main, ["materialize", "revnue"])
    assert typo.exit_code == 2
    assert "Did you mean 'revenue'?" in typo.stderr


def _run_doc_page(
    page: str, tmp_path: Path, *, without: str | None = None, only: str | None = None
) -> list[str]:
    """Write the page's project, then run each `$ ...` line in a shell; return the outputs
    (`without`: a `## ` section left out, tested on its own; `only`: that section alone,
    with a project of its own)."""
    import shlex

    text = (REPO / "docs" / page).read_text()
    if without is not None:
        before, _, rest = text.partition(f"\n## {without}\n")
        text = before + "\n## " + rest.split("\n## ", 1)[1] if "\n## " in rest else before
    if only is not None:
        _, found, rest = text.partition(f"\n## {only}\n")
        assert found, f"{page} has no section {only!r}"
        text = rest.split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (code,) = [block for block in blocks if "@asset" in block]
    (tmp_path / "pipeline.py").write_text(code)
    for block in blocks:  # other files the page names
        first = block.splitlines()[0]
        if re.fullmatch(r"# \w+\.py", first) and "@asset" not in block:
            (tmp_path / first[2:]).write_text(block)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.assay]\nmodule = "pipeline"\n'
    )
    outputs = []
    for line in re.findall(r"^\$ (.+)$", text, flags=re.M):
        command, _, comment = line.partition("  #")
        command = command.strip()
        expected = int(comment.split("exits")[1]) if "exits" in comment else 0
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=clean_env(PATH=_venv_path()),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == expected, (command, done.stdout, done.stderr)
        assert shlex.split(command)
        outputs.append(done.stdout)
    return outputs


def test_partitions_page_runs_as_written(tmp_path):
    outputs = _run_doc_page("partitions.md", tmp_path, without="Dynamic partitions")
    assert "48 steps" in outputs[0]
    assert "weekly_clicks" in outputs[2]


def test_partitions_page_dynamic_partitions_run_as_written(tmp_path):
    outputs = _run_doc_page("partitions.md", tmp_path, only="Dynamic partitions")
    added, listed, materialized, again, backfill, removed, planned, _, ticked, final = outputs
    assert added.strip() == "Added 3 key(s) to customers: acme, globex, initech"
    assert listed.split() == ["acme", "globex", "initech"]
    assert "(4 succeeded)" in materialized
    assert "Added 1 key(s) to customers (1 already present): hooli" in again
    assert "2 asset partitions" in backfill  # invoices[hooli] and revenue: initech is fresh
    assert "Removed 1 key(s) from customers: globex" in removed
    assert "no longer has partitions it read (globex)" in planned
    assert "for signups (sensor:signups:umbrella)" in ticked
    assert final.split() == ["acme", "initech", "hooli", "umbrella"]


def test_planning_page_runs_as_written(tmp_path):
    outputs = _run_doc_page("planning.md", tmp_path)
    assert "source price_list changed" in outputs[-2]
    assert "(root cause)" in outputs[-1]


def test_backfills_page_runs_as_written(tmp_path):
    dry_run, failed, status, resumed, listed, forced = _run_doc_page("backfills.md", tmp_path)
    assert dry_run.splitlines()[0] == "Would backfill 273 asset partitions of 3 assets:"
    assert "failed orders[2024-02-10]: RuntimeError: the API has no export for 2024-02-10" in (
        failed
    )
    assert "orders[2024-02-10]  failed" in status
    assert "completed: 273 succeeded" in resumed
    assert "completed" in listed
    assert "completed: 31 succeeded" in forced


def test_checks_page_runs_as_written(tmp_path):
    failed, materialized, checked, limited, listed = _run_doc_page("checks.md", tmp_path)
    assert "schema Orders failed: amount greater_than_or_equal_to(0): 1 row (e.g. -4.0)" in failed
    assert "upstream 'orders' partition 2024-01-02 failed check 'schema'" in failed
    assert "checks 2/2" in materialized
    assert checked.splitlines()[-1] == "9 results: 9 passed."
    assert "customers_over=1" in limited
    suites = (tmp_path / "checks.xml").read_text()
    assert 'failures="3"' in suites
    assert "✗ 3 failed" in listed


def test_lineage_page_runs_as_written(tmp_path):
    first, tree, mermaid, as_json, explored = _run_doc_page("lineage.md", tmp_path)
    assert "succeeded (11 succeeded)" in first
    lines = tree.splitlines()
    assert lines[0].startswith("revenue_3d  complete")
    assert "orders  complete" in tree
    assert str(tmp_path / ".assay" / "storage" / "orders") in tree
    assert mermaid.splitlines()[0] == "graph LR"
    assert mermaid.count("-->") == 2  # orders feeds revenue_3d and customers
    upstream = json.loads(as_json)["upstream"]
    assert [(row["asset"], row["depth"]) for row in upstream] == [("orders", 1)]
    assert "revenue_positive" in explored
    assert "assay.materialize" in explored


def test_executors_page_runs_as_written(tmp_path):
    try:
        local, _, _, scheduled = _run_doc_page("executors.md", tmp_path)
    finally:  # the page starts a scheduler and workers in the background
        _kill_processes_in(tmp_path)
    assert "completed: 20 succeeded." in local
    assert "completed: 20 succeeded." in scheduled
    assert (tmp_path / "cluster.json").exists()


def _kill_processes_in(folder: Path) -> None:
    import os
    import signal

    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(entry / "cwd")) == folder:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            continue


def test_state_page_runs_as_written(tmp_path):
    outputs = _run_doc_page("state.md", tmp_path)
    materialized, _, _, doctor, _, broken, rebuilt, planned, *pruning = outputs
    assert "succeeded (2 succeeded)" in materialized
    assert "by-hand.jsonl at byte 0: step record without 'asset_key'" in doctor
    assert "Rebuilt" in rebuilt
    assert "Nothing to do" in planned
    nothing, pruned, replanned = pruning
    assert nothing.startswith("Nothing to prune: no finished run ended before")
    assert pruned.startswith("Pruned 1 run ended before")
    assert "Nothing to do" in replanned
    assert list((tmp_path / ".assay").glob("assay.duckdb.broken-*"))
    assert broken == ""  # the error is on stderr, one line


def _run_section(page: str, heading: str, tmp_path: Path) -> tuple[str, list[str]]:
    """Write a page section's files as they come (a later `# pipeline.py` is the user's
    edit) and run its commands in order; a `# ...` comment other than `exits N` is what
    the command prints. Returns the section and the commands' outputs."""
    text = (REPO / "docs" / page).read_text()
    section = text[text.index(heading) :]
    section = section[: section.index("\n## ", len(heading))]
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.assay]\nmodule = "pipeline"\n'
    )
    outputs = []
    steps = re.findall(r"```python\n(.*?)```|^\$ ([^\n]+)$", section, flags=re.S | re.M)
    for block, line in steps:
        if block:
            (tmp_path / block.splitlines()[0].removeprefix("# ")).write_text(block)
            continue
        command, _, comment = line.partition("  # ")
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            # an edit within a second may keep its size: never run a stale .pyc
            env=clean_env(PATH=_venv_path(), PYTHONDONTWRITEBYTECODE="1"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        exits = int(comment.removeprefix("exits ")) if comment.startswith("exits ") else 0
        assert done.returncode == exits, (command, done.stdout, done.stderr)
        if comment and not comment.startswith("exits "):
            assert done.stdout.strip() == comment, command
        outputs.append(done.stdout)
    return section, outputs


def test_assets_page_schema_changes_run_as_written(tmp_path):
    section, outputs = _run_section("assets.md", "### When an asset's columns change", tmp_path)
    assert len(outputs) == 6
    (refusal,) = re.findall(r"^  ✗ .*$", section, flags=re.M)
    assert refusal in outputs[3].splitlines()


def test_assets_page_any_type_runs_as_written(tmp_path):
    section, outputs = _run_section("assets.md", "## Assets of any type", tmp_path)
    assert len(outputs) == 7
    assert "publish  nothing stored" in outputs[0]
    assert (tmp_path / ".assay/storage/model/data.pkl").is_file()
    assert (tmp_path / ".assay/storage/report/data.html").is_file()
    shown = section[section.rindex("$ assay plan\n") + len("$ assay plan\n") :]
    assert outputs[-1].strip() == shown[: shown.index("```")].strip()
    assert (tmp_path / "announcements.log").read_text() == "the report is out\n"


def test_architecture_page_examples_run_as_written(tmp_path):
    """Each example file of the page is a project run with `python FILE`."""
    page = REPO / "docs" / "architecture.md"
    printed = []
    for block in _python_blocks(page):
        name = block.splitlines()[0].removeprefix("# ")
        (tmp_path / name).write_text(block)
        done = subprocess.run(
            ["python", name],
            cwd=tmp_path,
            env=clean_env(PATH=_venv_path(), ASSAY_HOME=str(tmp_path / f"home-{name}")),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (name, done.stdout, done.stderr)
        printed.append(done.stdout.strip())
    assert printed == ["['orders', 'revenue']", "[2, 4, 6]"]


def test_operations_page_runs_as_written(tmp_path):
    (
        schedules,
        preview,
        sensors,
        disabled,
        enabled,
        _,
        sensor_preview,
        first_key,
        second_key,
        check,
        first_tick,
        second_tick,
    ) = _run_doc_page("operations.md", tmp_path, without="Alerts")
    assert "nightly" in schedules
    assert "weekday_report" in schedules
    assert "America/New_York" in schedules
    assert preview.splitlines() == [
        "2024-03-09T00:00:00-05:00  2024-03-08",
        "2024-03-10T00:00:00-05:00  2024-03-09",
        "2024-03-11T00:00:00-04:00  2024-03-10",
    ]
    assert "arrivals" in sensors
    assert "Schedule weekday_report disabled." in disabled
    assert "ticks from now on" in enabled
    assert "2024-03-05" in sensor_preview
    assert "succeeded" in first_key
    assert "it ran already" in second_key
    assert check == ""
    assert "Nothing due." in first_tick or "Launched" in first_tick
    assert "for nightly (schedule:nightly:2024-03-10T05:00:00+00:00)" in second_tick
    wait_for(
        lambda: (
            subprocess.run(
                ["pgrep", "-f", "--", f"--home {tmp_path}/.assay"], capture_output=True
            ).returncode
            != 0
        ),
        60,
    )


def test_operations_page_alerts_run_as_written(tmp_path):
    """The page's `## Alerts` section, against a real webhook receiver and a real SMTP
    server with STARTTLS and a login (other sections of the page have tests of their own)."""
    from tests.alert_servers import HttpReceiver, SmtpServer, self_signed_certificate

    text = (REPO / "docs" / "operations.md").read_text()
    section = text.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        (tmp_path / block.splitlines()[0].removeprefix("# ")).write_text(block)
    (toml,) = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "shop"\n\n[tool.assay]\nmodule = "pipeline"\n\n{toml}'
    )
    cert = self_signed_certificate(tmp_path)
    hook, chat = HttpReceiver(), HttpReceiver()
    smtp = SmtpServer(cert=cert, user="assay", password="smtp-secret")
    env = clean_env(
        PATH=_venv_path(),
        OPS_WEBHOOK_URL=hook.url,
        SLACK_WEBHOOK_URL=chat.url,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        SMTP_PASSWORD="smtp-secret",
        SSL_CERT_FILE=str(cert[0]),
        COLUMNS="200",
    )
    outputs = []
    try:
        for line in re.findall(r"^\$ (.+)$", section, flags=re.M):
            command, _, comment = line.partition("  #")
            expected = int(comment.split("exits")[1]) if "exits" in comment else 0
            done = subprocess.run(
                ["bash", "-c", command.strip()],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == expected, (command, done.stdout, done.stderr)
            outputs.append(done.stdout)
    finally:
        hook.close()
        chat.close()
        smtp.close()
    listed, _, logged, sent, tested, told, told_again = outputs
    assert "OPS_WEBHOOK_URL (set)" in listed
    assert "SMTP_PASSWORD (set)" in listed
    assert "run_failed for group:finance -> oncall" in listed
    assert [b["kind"] for b in hook.bodies()] == ["run_failed", "test", "tick_failed"]
    assert "the ledger does not balance" in hook.bodies()[0]["text"]
    assert len(chat.received) == 1
    (mail,) = smtp.mails
    assert mail.was_tls
    assert mail.login == "assay"
    assert mail.message["Subject"].startswith("[assay shop] run ")
    assert logged.count(" sent ") == 3
    assert sent == "Nothing to send: every alert was delivered.\n"
    assert tested == "Sent a test message to 'ops' (webhook).\n"
    assert (told, told_again) == ("sent to 'ops'\n", "'ops' had it already\n")


def test_automation_page_runs_as_written(tmp_path):
    """docs/automation.md: its project and commands, then its other examples."""
    text = (REPO / "docs" / "automation.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (tmp_path / "pipeline.py").write_text(blocks[0])
    named = {b.splitlines()[0][2:]: b for b in blocks[1:] if re.match(r"# \w+\.py\n", b)}
    assert set(named) == {"pipeline_parts.py", "pipeline_groups.py"}
    for name, block in named.items():
        (tmp_path / name).write_text(block)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.assay]\nmodule = "pipeline"\n'
    )
    env = clean_env(PATH=_venv_path(), COLUMNS="250")
    outputs = []
    for line in re.findall(r"^\$ (.+)$", text, flags=re.M):
        done = subprocess.run(
            ["bash", "-c", line.strip()], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        outputs.append(done.stdout)
    _, first, preview, orders, revenue, why, report, last, listed = outputs
    assert first.strip() == "Nothing due."
    assert "orders: 2024-01-05 (1 partition)" in preview
    assert "revenue: nothing" in preview
    assert "(automation:orders:" in orders
    assert "succeeded." in orders
    assert "(automation:revenue:" in revenue
    assert "report 2024-01-05: not requested" not in why  # revenue is there: it would run
    assert "report 2024-01-05: would be requested by the next tick" in why
    assert "(automation:report:" in report
    assert last.strip() == "Nothing due."
    assert "due 6:00:00 after its window closes" in listed
    parts = subprocess.run(
        [str(_venv_path().split(":")[0] + "/python"), "pipeline_parts.py"], cwd=tmp_path,
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert parts.returncode == 0, parts.stderr
    assert "stale (input changed, source changed) & not in progress & latest 7 partitions" in (
        parts.stdout
    )
    groups = subprocess.run(
        [str(_venv_path().split(":")[0] + "/python"), "-c",
         "import pipeline_groups as p; print(p.defs.automation)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert groups.returncode == 0, groups.stderr
