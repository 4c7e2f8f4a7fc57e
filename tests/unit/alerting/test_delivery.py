"""Delivery to real servers on 127.0.0.1: formats, retries, budgets, de-duplication
across processes, what is recorded, and the backlog."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay import Alert, Email, Slack, Webhook
from assay.alerting import AlertEvent, DeliveryStatus, notify, run_failed_event
from assay.alerting.backlog import send_backlog
from assay.alerting.log import delivery_log
from assay.automation.alerts import EventKind
from assay.config import AlertSettings, ProjectConfig
from assay.keys import AssetKey
from assay.results import StepError, StepResult, StepStatus
from assay.state.store import StateStore
from tests.alert_servers import HttpReceiver, SmtpServer, free_port, self_signed_certificate
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(60)

FAST = AlertSettings(attempts=3, timeout_s=1.0, backoff_s=0.05, budget_s=3.0)


@pytest.fixture
def config(tmp_path):
    return ProjectConfig(
        root=tmp_path, home=tmp_path / ".assay", module=None, file=None, name="shop", alerts=FAST
    )


@pytest.fixture
def serving():
    """`serving(Server, **options)`: the server, closed at the test's end."""
    made = []

    def make(kind, **kwargs):
        made.append(kind(**kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
def receiver(serving):
    return lambda **kwargs: serving(HttpReceiver, **kwargs)


@pytest.fixture
def smtp(serving):
    return lambda **kwargs: serving(SmtpServer, **kwargs)


def failed_run(run_id="4f1c2d3e-0000-4000-8000-000000000001"):
    failure = StepError(
        message="ValueError: the ledger <does not> balance (pipeline.py:12)",
        exception="ValueError",
        location="/srv/shop/pipeline.py:12",
    )
    step = StepResult(
        key=AssetKey.parse("finance/boom"),
        partition="2024-01-02",
        status=StepStatus.FAILED,
        started_at=0.0,
        finished_at=1.0,
        failure=failure,
    )
    return run_failed_event(
        run_id=run_id, selection="+finance/boom", failures=[step], skipped=["after"]
    )


def on_failure(*targets, select=None):
    return [Alert(on=["run_failed"], to=list(targets), select=select)]


def deliveries(config):
    with StateStore(config.home).reading() as con:
        return con.execute(
            "SELECT target, status, attempt, error FROM alert_deliveries "
            "ORDER BY recorded_at, attempt"
        ).fetchall()


def test_a_webhook_receives_the_event_as_json_with_its_secret_header(config, receiver, monkeypatch):
    server = receiver()
    monkeypatch.setenv("OPS_URL", server.url)
    monkeypatch.setenv("OPS_TOKEN", "Bearer s3cr3t-t0ken")
    hook = Webhook(name="ops", url_env="OPS_URL", headers_env={"Authorization": "OPS_TOKEN"})

    (result,) = notify(config, on_failure(hook), failed_run())

    assert result.status is DeliveryStatus.SENT, result
    (received,) = server.received
    assert received.headers["Authorization"] == "Bearer s3cr3t-t0ken"
    assert received.headers["Content-Type"].startswith("application/json")
    body = received.body
    assert body["kind"] == "run_failed"
    assert body["key"] == "run_failed:4f1c2d3e-0000-4000-8000-000000000001"
    assert body["project"] == "shop"
    assert body["subject"] == "run 4f1c2d3e failed: finance/boom[2024-01-02]"
    assert body["asset"] == "finance/boom"
    assert body["partition"] == "2024-01-02"
    assert body["assets"] == ["after", "finance/boom"]
    assert body["error"] == {
        "type": "ValueError",
        "message": "ValueError: the ledger <does not> balance (pipeline.py:12)",
        "location": "/srv/shop/pipeline.py:12",
    }
    assert "1 step(s) were skipped" in body["text"]
    assert deliveries(config) == [("ops", "pending", 0, None), ("ops", "sent", 1, None)]


def test_slack_gets_text_and_blocks_with_its_control_characters_escaped(config, receiver):
    server = receiver()
    chat = Slack(name="chat", url=server.url)

    (result,) = notify(config, on_failure(chat), failed_run())

    assert result.is_sent
    (body,) = server.bodies()
    assert body["text"] == "run 4f1c2d3e failed: finance/boom[2024-01-02]"
    header, section, fields, context = body["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "run 4f1c2d3e failed: finance/boom[2024-01-02]"},
    }
    assert "the ledger &lt;does not&gt; balance" in section["text"]["text"]
    assert section["text"]["type"] == "mrkdwn"
    shown = [f["text"] for f in fields["fields"]]
    assert "*Error*\nValueError" in shown
    assert "*Where*\n/srv/shop/pipeline.py:12" in shown
    assert context["elements"][0]["text"].startswith("assay · shop · run_failed")


def test_http_500_is_retried_with_backoff_then_recorded_failed(config, receiver):
    server = receiver(statuses=[500])
    started = time.monotonic()

    (result,) = notify(config, on_failure(Webhook(url=server.url)), failed_run())

    assert result.status is DeliveryStatus.FAILED
    assert result.attempts == 3
    assert result.error == "HTTP 500 Internal Server Error: no_service /***"
    assert len(server.received) == 3
    assert time.monotonic() - started < FAST.budget_s + 1
    rows = deliveries(config)
    assert [(status, attempt) for _, status, attempt, _ in rows] == [
        ("pending", 0),
        ("failed", 1),
        ("failed", 2),
        ("failed", 3),
    ]
    assert "T0KEN-SECRET" not in json.dumps(rows)
    (logged,) = delivery_log(config.home)
    assert (logged["status"], logged["attempts"], logged["error"]) == ("failed", 3, result.error)


def test_a_failed_attempt_followed_by_success_is_sent(config, receiver):
    server = receiver(statuses=[503, 200])

    (result,) = notify(config, on_failure(Webhook(url=server.url)), failed_run())

    assert (result.status, result.attempts) == (DeliveryStatus.SENT, 2)
    (logged,) = delivery_log(config.home)
    assert (logged["status"], logged["attempts"], logged["error"]) == ("sent", 2, None)


def test_a_target_that_is_down_fails_in_a_bounded_time(config):
    url = f"http://127.0.0.1:{free_port()}/hook"
    started = time.monotonic()

    (result,) = notify(config, on_failure(Webhook(url=url)), failed_run())

    assert result.status is DeliveryStatus.FAILED
    assert result.error == "connection refused (is the server up?)"
    assert time.monotonic() - started < FAST.budget_s + 1


def test_a_target_that_never_answers_is_given_up_within_the_budget(config, receiver):
    server = receiver(delay_s=10)
    tight = ProjectConfig(
        root=config.root,
        home=config.home,
        module=None,
        file=None,
        name="shop",
        alerts=AlertSettings(attempts=5, timeout_s=0.5, backoff_s=0.05, budget_s=1.2),
    )
    started = time.monotonic()

    (result,) = notify(tight, on_failure(Webhook(url=server.url)), failed_run())

    took = time.monotonic() - started
    assert result.status is DeliveryStatus.FAILED
    assert result.error == "no answer within 0.5 s"
    assert took < 1.2 + 0.5 + 0.5, took


def test_a_variable_that_is_not_set_fails_at_once_and_is_said(config, monkeypatch):
    monkeypatch.delenv("NOT_SET_URL", raising=False)
    (result,) = notify(config, on_failure(Slack(url_env="NOT_SET_URL")), failed_run())
    assert (result.status, result.attempts) == (DeliveryStatus.FAILED, 1)
    assert result.error == "the environment variable NOT_SET_URL is not set"


def test_alerts_are_chosen_by_kind_and_by_the_assets_an_event_concerns(config, receiver):
    from assay import Definitions, asset

    @asset(group="finance")
    def ledger():
        return None

    @asset
    def clicks():
        return None

    graph = Definitions(assets=[ledger, clicks]).graph
    finance, everyone = receiver(), receiver()
    alerts = [
        Alert(on=["run_failed"], select="group:finance", to=[Webhook(name="fin", url=finance.url)]),
        Alert(on=["tick_failed"], to=[Webhook(name="all", url=everyone.url)]),
    ]
    about = {
        name: AlertEvent(
            kind=EventKind.RUN_FAILED, key=f"k:{name}", subject="s", text="t", assets=assets
        )
        for name, assets in [
            ("clicks", ("clicks",)),
            ("ledger", ("ledger", "clicks")),
            ("none", ()),
        ]
    }

    assert notify(config, alerts, about["clicks"], graph=graph) == []
    assert [r.target for r in notify(config, alerts, about["ledger"], graph=graph)] == ["fin"]
    assert [r.target for r in notify(config, alerts, about["none"], graph=graph)] == ["fin"]
    assert [b["key"] for b in finance.bodies()] == ["k:ledger", "k:none"]
    assert everyone.received == []


_NOTIFY = """
import json, sys
from pathlib import Path
from assay import Alert, Webhook
from assay.alerting import AlertEvent, notify
from assay.automation.alerts import EventKind
from assay.config import AlertSettings, ProjectConfig

home, url, key = sys.argv[1:]
config = ProjectConfig(
    root=Path(home).parent, home=Path(home), module=None, file=None, name="shop",
    alerts=AlertSettings(attempts=1, timeout_s=30, backoff_s=0.05, budget_s=30),
)
event = AlertEvent(kind=EventKind.TICK_FAILED, key=key, subject="nightly failed", text="boom")
alerts = [Alert(on=["tick_failed"], to=[Webhook(name="hook", url=url)])]
print(json.dumps([r.status for r in notify(config, alerts, event)]), flush=True)
"""


def _notify_in_another_process(config, url, key):
    return subprocess.Popen(
        [sys.executable, "-c", _NOTIFY, str(config.home), url, key],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_key_delivered_to_a_target_is_not_sent_again_by_another_process(config, receiver):
    server = receiver()
    first = _notify_in_another_process(config, server.url, "tick_failed:nightly:1")
    assert json.loads(first.communicate(timeout=30)[0]) == ["sent"]

    again = _notify_in_another_process(config, server.url, "tick_failed:nightly:1")
    assert json.loads(again.communicate(timeout=30)[0]) == ["duplicate"]
    other = _notify_in_another_process(config, server.url, "tick_failed:nightly:2")
    assert json.loads(other.communicate(timeout=30)[0]) == ["sent"]
    assert [b["key"] for b in server.bodies()] == ["tick_failed:nightly:1", "tick_failed:nightly:2"]


def test_two_processes_sending_one_key_at_once_deliver_it_once(config, receiver):
    server = receiver(delay_s=1.0)  # the first one is still sending when the second asks
    first = _notify_in_another_process(config, server.url, "tick_failed:nightly:3")
    wait_for(lambda: server.received, timeout_s=20)
    second = _notify_in_another_process(config, server.url, "tick_failed:nightly:3")

    statuses = [json.loads(p.communicate(timeout=30)[0]) for p in (first, second)]

    assert statuses[0] == ["sent"]
    # still sending (in flight) or sent by then (a duplicate): never delivered twice
    assert statuses[1] in (["in_flight"], ["duplicate"])
    assert len(server.received) == 1
    rows = deliveries(config)
    assert [s for _, s, _, _ in rows] == ["pending", "sent"]


def test_what_a_killed_process_did_not_deliver_is_sent_by_the_backlog(config, receiver):
    server = receiver(delay_s=30)  # it never answers the first process
    sender = _notify_in_another_process(config, server.url, "tick_failed:nightly:4")
    wait_for(lambda: server.received, timeout_s=20)
    sender.send_signal(signal.SIGKILL)
    sender.communicate(timeout=10)
    server.delay_s = 0
    hook = Webhook(name="hook", url=server.url)
    assert [r["status"] for r in delivery_log(config.home)] == ["pending"]

    report = send_backlog(config, {"hook": hook})

    assert (report.sent, report.failed) == (1, 0), report
    assert len(server.received) == 2  # at least once: the first got it, but never said so
    assert [r["status"] for r in delivery_log(config.home)] == ["sent"]
    assert send_backlog(config, {"hook": hook}).describe() == (
        "Nothing to send: every alert was delivered."
    )


def test_the_backlog_stops_trying_a_target_that_fails_and_keeps_the_rest(config, receiver):
    down = Webhook(name="hook", url=f"http://127.0.0.1:{free_port()}/hook")
    for n in range(2):
        event = AlertEvent(
            kind=EventKind.TICK_FAILED, key=f"tick_failed:n:{n}", subject="s", text="t"
        )
        notify(config, [Alert(on=["tick_failed"], to=[down])], event)
    server = receiver()

    report = send_backlog(config, {"hook": down})
    assert (report.sent, report.failed, report.waiting) == (0, 1, 1)
    assert "run `assay alerts send` again" in report.describe()

    report = send_backlog(config, {"hook": Webhook(name="hook", url=server.url)})
    assert (report.sent, report.failed) == (2, 0)
    report = send_backlog(config, {})
    assert report.describe() == "Nothing to send: every alert was delivered."


def test_secrets_never_reach_the_journal_or_the_state_store(config, receiver, monkeypatch):
    server = receiver(statuses=[500])
    monkeypatch.setenv("OPS_TOKEN", "Bearer HEADER-SECRET")
    hook = Webhook(name="ops", url=server.url, headers_env={"Authorization": "OPS_TOKEN"})
    notify(config, on_failure(hook), failed_run())
    StateStore(config.home).index_pending()

    from tests.state_snapshots import snapshot

    tables = json.dumps(snapshot(config.home / "assay.duckdb"), default=str)
    journals = "".join(p.read_text() for p in config.home.joinpath("journal").rglob("*.jsonl"))
    assert "no_service /***" in tables  # the positive control: the reason is there
    for secret in ("T0KEN-SECRET", "HEADER-SECRET", server.url):
        assert secret not in tables
        assert secret not in journals


def _mail(server, **kwargs):
    return Email(
        name="mail",
        host="127.0.0.1",
        port=server.port,
        sender="assay@shop.example",
        to=["oncall@shop.example", "ada@shop.example"],
        **kwargs,
    )


def test_email_over_starttls_with_a_login(config, smtp, tmp_path, monkeypatch):
    cert = self_signed_certificate(tmp_path)
    server = smtp(cert=cert, user="assay", password="smtp-PASSWORD")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # trust the test's own certificate
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-PASSWORD")
    mail = _mail(server, username="assay", password_env="SMTP_PASSWORD")

    (result,) = notify(config, on_failure(mail), failed_run())

    assert result.is_sent, result
    (received,) = server.mails
    assert received.was_tls
    assert received.login == "assay"
    assert received.recipients == ["oncall@shop.example", "ada@shop.example"]
    assert "Subject: [assay shop] run 4f1c2d3e failed: finance/boom[2024-01-02]" in received.text
    assert "Error: ValueError" in received.text
    assert "X-Assay-Event: run_failed:4f1c2d3e" in received.text
    journals = "".join(p.read_text() for p in config.home.joinpath("journal").rglob("*.jsonl"))
    assert "smtp-PASSWORD" not in journals


def test_email_without_tls_to_a_local_relay(config, smtp):
    server = smtp()
    (result,) = notify(config, on_failure(_mail(server, starttls=False)), failed_run())
    assert result.is_sent
    assert not server.mails[0].was_tls


def test_email_refuses_a_server_that_does_not_offer_starttls(config, smtp):
    server = smtp()
    (result,) = notify(config, on_failure(_mail(server)), failed_run())
    assert (result.status, result.attempts) == (DeliveryStatus.FAILED, 1)
    assert "does not offer STARTTLS (for a relay without TLS, say starttls=False)" in result.error
    assert server.mails == []


def test_email_refuses_a_certificate_it_does_not_trust(config, smtp, tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    server = smtp(cert=self_signed_certificate(tmp_path))
    (result,) = notify(config, on_failure(_mail(server)), failed_run())
    assert result.status is DeliveryStatus.FAILED
    assert result.error.startswith("the TLS certificate of 127.0.0.1 is not trusted")


def test_a_wrong_password_is_not_retried(config, smtp, tmp_path, monkeypatch):
    cert = self_signed_certificate(tmp_path)
    server = smtp(cert=cert, user="assay", password="right")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    mail = _mail(server, username="assay", password_env="SMTP_PASSWORD")
    (result,) = notify(config, on_failure(mail), failed_run())
    assert (result.status, result.attempts) == (DeliveryStatus.FAILED, 1)
    assert result.error == "127.0.0.1 refused the login of 'assay' (535)"


def test_the_claims_live_in_the_state_home(config, receiver):
    server = receiver()
    notify(config, on_failure(Webhook(url=server.url)), failed_run())
    claims = list(Path(config.home, "alerts").glob("*.json"))
    assert len(claims) == 1
    assert "sent_at" in json.loads(claims[0].read_text())
