"""`assay alerts` and the alerts of runs started from the CLI, against a real HTTP server
and a real SMTP server on 127.0.0.1."""

import json
import subprocess
import time

import pytest
from click.testing import CliRunner

from assay.cli.main import main
from tests.alert_servers import HttpReceiver, SmtpServer, free_port
from tests.conftest import ASSAY, clean_env

pytestmark = pytest.mark.timeout(120)

FAST = "\n[tool.assay.alerts]\nattempts = 3\ntimeout_s = 1\nbackoff_s = 0.05\nbudget_s = 2\n"
TOKEN = "Bearer HEADER-SECRET"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def servers():
    made = {"hook": HttpReceiver(), "chat": HttpReceiver(), "mail": SmtpServer()}
    yield made
    for server in made.values():
        server.close()


@pytest.fixture
def shop(make_project, monkeypatch, servers):
    for name in ("FAIL", "PRICES_STALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("ALERT_HOOK_URL", servers["hook"].url)
    monkeypatch.setenv("ALERT_HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("ALERT_SLACK_URL", servers["chat"].url)
    monkeypatch.setenv("ALERT_SMTP_PORT", str(servers["mail"].port))
    return make_project("alerting", extra_toml=FAST)


def kinds(server):
    """The kinds of the events a webhook received."""
    return sorted(body["kind"] for body in server.bodies())


def test_list_shows_targets_and_rules_with_variables_never_values(shop, monkeypatch, servers):
    monkeypatch.delenv("ALERT_SLACK_URL")
    result = invoke("alerts", "list")
    assert result.exit_code == 0, result.output
    assert "POST JSON to $ALERT_HOOK_URL, Authorization: $ALERT_HOOK_TOKEN" in result.output
    assert "ALERT_HOOK_URL (set), ALERT_HOOK_TOKEN (set)" in result.output
    assert "ALERT_SLACK_URL (not set)" in result.output
    assert "run_failed, check_failed -> hook, chat" in result.output
    assert "run_failed for group:finance -> mail" in result.output
    assert "run_too_long (over 0.001 s) for slow -> hook" in result.output
    assert servers["hook"].url not in result.output
    assert "HEADER-SECRET" not in result.output

    listed = json.loads(invoke("alerts", "list", "--json").output)
    assert [t["name"] for t in listed["targets"]] == ["hook", "chat", "mail"]
    assert listed["targets"][1]["variables"] == [{"env": "ALERT_SLACK_URL", "is_set": False}]
    assert listed["alerts"][2]["max_duration_s"] == 0.001
    assert "SECRET" not in json.dumps(listed)


def test_test_sends_a_message_and_says_why_when_the_target_is_down(shop, servers, monkeypatch):
    sent = invoke("alerts", "test", "hook")
    assert sent.exit_code == 0, sent.output
    assert sent.output == "Sent a test message to 'hook' (webhook).\n"
    (body,) = servers["hook"].bodies()
    assert body["kind"] == "test"
    assert body["text"] == "This is a test of the alert target 'hook': it works."
    assert servers["hook"].received[0].headers["Authorization"] == TOKEN

    mailed = invoke("alerts", "test", "mail")
    assert mailed.exit_code == 0, mailed.output
    assert (
        "Subject: [assay alerting-project] test alert from assay" in servers["mail"].mails[0].text
    )

    monkeypatch.setenv("ALERT_SLACK_URL", f"http://127.0.0.1:{free_port()}/services/SECRET")
    down = invoke("alerts", "test", "chat")
    assert down.exit_code == 1
    assert down.stderr == (
        "Error: alert target 'chat' (slack) did not take the test message: "
        "connection refused (is the server up?) (3 attempts)\n"
    )

    unknown = invoke("alerts", "test", "hok")
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "Error: no alert target is named 'hok'. Did you mean 'hook'? "
        "`assay alerts list` lists them\n"
    )
    logged = json.loads(invoke("alerts", "log", "--json").output)
    assert [(r["target"], r["event_kind"], r["status"]) for r in logged] == [
        ("chat", "test", "failed"),
        ("mail", "test", "sent"),
        ("hook", "test", "sent"),
    ]


def test_a_failing_materialize_alerts_every_target_that_wants_it(shop, servers, monkeypatch):
    monkeypatch.setenv("FAIL", "1")
    result = invoke("materialize")
    assert result.exit_code == 1, result.output  # the run fails on its own merits

    assert kinds(servers["hook"]) == ["run_failed", "run_too_long"]
    failed = next(b for b in servers["hook"].bodies() if b["kind"] == "run_failed")
    assert failed["asset"] == "boom"
    assert failed["error"]["type"] == "ValueError"
    assert failed["error"]["location"].endswith(".py:28")  # the raise in boom
    assert failed["assets"] == ["after", "boom"]
    (chat,) = servers["chat"].bodies()
    assert chat["blocks"][0]["text"]["text"] == failed["subject"]
    (mail,) = servers["mail"].mails
    assert "ValueError: the ledger does not balance" in mail.body
    assert mail.message["Subject"] == f"[assay alerting-project] {failed['subject']}"

    logged = json.loads(invoke("alerts", "log", "--json").output)
    assert sorted((r["target"], r["event_kind"], r["status"]) for r in logged) == [
        ("chat", "run_failed", "sent"),
        ("hook", "run_failed", "sent"),
        ("hook", "run_too_long", "sent"),
        ("mail", "run_failed", "sent"),
    ]
    assert {r["run_id"] for r in logged} == {failed["run_id"]}
    shown = invoke("alerts", "log", "--run", failed["run_id"][:8])
    assert "run_too_long" in shown.output
    assert invoke("alerts", "send").output == "Nothing to send: every alert was delivered.\n"


def test_a_blocking_check_alerts_and_an_alert_keeps_to_its_selection(shop, servers, monkeypatch):
    monkeypatch.setenv("PRICES_STALE", "1")
    result = invoke("materialize", "prices")
    assert result.exit_code == 1, result.output

    assert kinds(servers["hook"]) == ["check_failed", "run_failed"]
    check = next(b for b in servers["hook"].bodies() if b["kind"] == "check_failed")
    assert check["subject"] == "check 'fresh_enough' failed on prices"
    assert check["details"] == {"Check": "fresh_enough"}
    assert len(servers["chat"].received) == 2
    assert servers["mail"].mails == []  # its alert selects group:finance


def test_assay_check_alerts_a_blocking_check_that_fails(shop, servers, monkeypatch):
    assert invoke("materialize", "prices").exit_code == 0
    assert servers["hook"].received == []
    monkeypatch.setenv("PRICES_STALE", "1")

    result = invoke("check", "prices")

    assert result.exit_code == 1, result.output
    assert kinds(servers["hook"]) == ["check_failed"]  # the check run itself is no run_failed
    assert servers["hook"].bodies()[0]["key"].endswith(":prices:fresh_enough")


def test_a_target_that_fails_never_changes_the_run(shop, servers):
    servers["hook"].statuses = [500]
    started = time.monotonic()

    result = invoke("materialize", "slow")

    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 2 + 3  # the alert budget, and the run itself
    assert len(servers["hook"].received) == 3
    assert (
        "Note: alert run_too_long not sent to 'hook': HTTP 500 Internal Server Error: "
        "no_service /*** (3 attempts); it is recorded: `assay alerts send` delivers it later"
    ) in result.stderr
    logged = invoke("alerts", "log")
    assert "failed" in logged.output
    assert "`assay alerts send` delivers those that were not sent." in logged.output


def test_alerts_send_delivers_what_a_down_target_missed(shop, servers, monkeypatch):
    monkeypatch.setenv("FAIL", "1")
    monkeypatch.setenv("ALERT_HOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    assert invoke("materialize", "boom").exit_code == 1
    assert len(servers["chat"].received) == 1
    (row,) = [
        r for r in json.loads(invoke("alerts", "log", "--json").output) if r["target"] == "hook"
    ]
    assert (row["status"], row["error"]) == ("failed", "connection refused (is the server up?)")

    monkeypatch.setenv("ALERT_HOOK_URL", servers["hook"].url)  # the target as defined now
    sent = invoke("alerts", "send")
    assert sent.exit_code == 0, sent.output
    assert sent.output == "1 alert(s) sent, 0 failed.\n"
    assert kinds(servers["hook"]) == ["run_failed"]
    assert len(servers["chat"].received) == 1  # what chat had is not sent again
    assert invoke("alerts", "send").output == "Nothing to send: every alert was delivered.\n"


def test_alerts_send_exits_1_while_a_target_still_fails(shop, servers, monkeypatch):
    monkeypatch.setenv("FAIL", "1")
    monkeypatch.setenv("ALERT_HOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    assert invoke("materialize", "boom").exit_code == 1
    again = invoke("alerts", "send")
    assert again.exit_code == 1
    assert again.output == (
        "0 alert(s) sent, 1 failed (hook: connection refused (is the server up?)); "
        "run `assay alerts send` again to retry them.\n"
    )


def test_secrets_never_reach_journals_state_or_lineage(shop, servers, monkeypatch):
    from assay.state.store import StateStore
    from tests.state_snapshots import every_journal, journal_bytes, snapshot

    servers["chat"].statuses = [500]  # its reasons are recorded too
    monkeypatch.setenv("FAIL", "1")
    assert invoke("materialize").exit_code == 1
    home = shop / ".assay"
    StateStore(home).index_pending()

    tables = snapshot(home / "assay.duckdb")
    text = json.dumps(tables, default=str)
    journals = b"".join(journal_bytes(p) for p in every_journal(home)).decode()
    assert tables["lineage_events"]  # the positive controls: lineage and alerts recorded
    assert "no_service /***" in text
    assert "run_failed:" in journals
    for secret in ("T0KEN-SECRET", "HEADER-SECRET", servers["hook"].url):
        assert secret not in text
        assert secret not in journals


@pytest.mark.slow
def test_a_materialize_subprocess_alerts_the_http_server(shop, servers):
    env = clean_env(
        FAIL="1",
        ALERT_HOOK_URL=servers["hook"].url,
        ALERT_HOOK_TOKEN=TOKEN,
        ALERT_SLACK_URL=servers["chat"].url,
        ALERT_SMTP_PORT=str(servers["mail"].port),
    )
    done = subprocess.run(
        [str(ASSAY), "materialize", "+boom"],
        cwd=shop,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    (body,) = servers["hook"].bodies()
    assert body["kind"] == "run_failed"
    assert body["error"]["message"].startswith("ValueError: the ledger does not balance (")
    assert servers["hook"].received[0].headers["Authorization"] == TOKEN
    assert len(servers["mail"].mails) == 1
