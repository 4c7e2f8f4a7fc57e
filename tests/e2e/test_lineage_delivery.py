"""Sending lineage through the OpenLineage client's own configuration: to a real
HTTP receiver on localhost, to a closed port (the run must not wait), to a server
answering 500 and to one that never answers (each said as what happened), to a
file transport from openlineage.yml, and nowhere when nothing is configured; then
`assay lineage send` delivering what runs could not, exactly once."""

import contextlib
import json
import re
import signal
import socket
import subprocess
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from tests.conftest import ASSAY, PROJECTS, clean_env, wait_for
from tests.openlineage_spec import validation_errors

pytestmark = pytest.mark.slow

SLOW = PROJECTS / "slow.py"


class Receiver(ThreadingHTTPServer):
    """A lineage endpoint: keeps every event POSTed to /api/v1/lineage; answers
    `status` (201, or 500 for a broken one)."""

    daemon_threads = True

    def __init__(self, status: int = 201) -> None:
        self.received: list[dict] = []
        self.paths: set[str] = set()
        self.status = status
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.paths.add(self.path)
        if self.server.status < 300:
            self.server.received.append(json.loads(body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(status: int = 201):
    server = Receiver(status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver():
    with serving() as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def shop(make_project, monkeypatch):
    for name in ("FLAKY_DIR", "BAD_DAY", "BIG", "NAMELESS_IO"):
        monkeypatch.delenv(name, raising=False)
    return make_project("lineage_shop")


def last_run(root) -> dict:
    with duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1")
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchall()[0], strict=True))


def stored_events(root) -> list[dict]:
    return [json.loads(e) for e in assay.lineage.open(root / ".assay").events()["event"]]


def key(event: dict) -> tuple[str, str]:
    return (event["run"]["runId"], event["eventType"])


def test_events_go_to_an_http_endpoint_as_well(shop, receiver, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    result = assay.load().materialize(
        "orders rolling_revenue", partition_range=("2024-01-01", "2024-01-03")
    )
    assert result.success
    stored = stored_events(shop)
    assert sorted(map(key, receiver.received)) == sorted(map(key, stored))
    assert receiver.paths == {"/api/v1/lineage"}
    assert all(validation_errors(event) == [] for event in receiver.received)
    run = last_run(shop)
    assert run["lineage_sent"] == run["lineage_events"] == len(stored)
    assert run["lineage_failed"] == 0
    assert run["lineage_target"] == f"{receiver.url}/api/v1/lineage"
    # the client's URL variable is not left behind as transport variables
    import os

    assert not [name for name in os.environ if name.startswith("OPENLINEAGE__")]


def test_a_dead_endpoint_neither_slows_nor_fails_the_run(shop, monkeypatch):
    port = closed_port()
    url = f"http://127.0.0.1:{port}/api/v1/lineage"
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = CliRunner().invoke(
        main, ["materialize", "orders", "--from", "2024-01-01", "--to", "2024-01-03"]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    # the client retries each event for about 9 s; 6 step events + 2 run events
    # + 6 check events would take minutes if the run waited for them
    assert elapsed < 8, elapsed
    assert f"events were not sent (connection refused to {url})" in result.output
    assert "`assay lineage send` delivers them" in result.output
    run = last_run(shop)
    assert run["status"] == "succeeded"
    assert run["lineage_sent"] == 0
    assert run["lineage_failed"] == run["lineage_events"] > 0
    assert run["lineage_error"] == f"connection refused to {url}"
    assert len(stored_events(shop)) == run["lineage_events"]
    shown = CliRunner().invoke(main, ["runs", "show", run["run_id"]]).output
    total = run["lineage_events"]
    assert f"lineage: {total} events; 0 of {total} sent to {url}" in shown
    assert (shop / ".assay/lineage-outbox" / f"{run['run_id']}.jsonl").is_file()


def test_a_server_answering_500_is_named_not_taken_for_silence(shop, monkeypatch):
    with serving(500) as broken:
        monkeypatch.setenv("OPENLINEAGE_URL", broken.url)
        result = CliRunner().invoke(main, ["materialize", "orders", "-p", "2024-01-01"])
    assert result.exit_code == 0, result.output
    assert f"were not sent (HTTP 500 from {broken.url}/api/v1/lineage)" in result.output
    assert last_run(shop)["lineage_error"] == f"HTTP 500 from {broken.url}/api/v1/lineage"


def test_an_endpoint_that_never_answers_times_out(shop, monkeypatch):
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{port}")
        result = CliRunner().invoke(main, ["materialize", "orders", "-p", "2024-01-01"])
    assert result.exit_code == 0, result.output
    url = f"http://127.0.0.1:{port}/api/v1/lineage"
    assert re.search(rf"were not sent \(timed out after \d+ s waiting for {url}\)", result.output)


def send(*args: str):
    return CliRunner().invoke(main, ["lineage", "send", *args])


def test_lineage_send_delivers_what_runs_could_not_exactly_once(shop, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{closed_port()}")
    assert assay.load().materialize("orders", partitions=["2024-01-01"]).success
    assert assay.load().materialize("orders", partitions=["2024-01-02"]).success
    stored = stored_events(shop)
    assert len(list((shop / ".assay/lineage-outbox").iterdir())) == 2
    with serving() as late:
        monkeypatch.setenv("OPENLINEAGE_URL", late.url)
        first = send()
        assert first.exit_code == 0, first.output
        url = f"{late.url}/api/v1/lineage"
        assert first.output == f"{len(stored)} events sent to {url}, 0 failed (2 runs)\n"
        assert sorted(map(key, late.received)) == sorted(map(key, stored))
        assert all(validation_errors(event) == [] for event in late.received)
        again = send()
        assert again.exit_code == 0, again.output
        assert again.output == f"nothing to send to {url}: every event was delivered\n"
        assert len(late.received) == len(stored)
    assert list((shop / ".assay/lineage-outbox").iterdir()) == []


def test_lineage_send_says_what_failed_and_keeps_it(shop, monkeypatch):
    refused = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("OPENLINEAGE_URL", refused)
    assert assay.load().materialize("orders", partitions=["2024-01-01"]).success
    total = len(stored_events(shop))
    still_refused = send()
    assert still_refused.exit_code == 1
    assert still_refused.output == (
        f"0 events sent to {refused}/api/v1/lineage, {total} failed (1 run): connection refused "
        f"to {refused}/api/v1/lineage; run `assay lineage send` again to retry them\n"
    )
    with serving(500) as broken:
        monkeypatch.setenv("OPENLINEAGE_URL", broken.url)
        answered_500 = send()
    assert answered_500.exit_code == 1
    assert f"{total} failed (1 run): HTTP 500 from {broken.url}/api/v1/lineage" in (
        answered_500.output
    )
    with serving() as fixed:
        monkeypatch.setenv("OPENLINEAGE_URL", fixed.url)
        assert send().output.startswith(f"{total} events sent to {fixed.url}")
        assert len(fixed.received) == total


def test_lineage_send_since_keeps_older_events_for_later(shop, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{closed_port()}")
    assert assay.load().materialize("orders", partitions=["2024-01-01"]).success
    older = len(stored_events(shop))
    time.sleep(1.1)
    between = time.time()
    time.sleep(0.1)
    assert assay.load().materialize("orders", partitions=["2024-01-02"]).success
    newer = len(stored_events(shop)) - older
    since = datetime.fromtimestamp(between).isoformat(timespec="milliseconds")
    with serving() as late:
        monkeypatch.setenv("OPENLINEAGE_URL", late.url)
        recent = send("--since", since)
        assert recent.exit_code == 0, recent.output
        assert f"{newer} events sent" in recent.output
        assert f"; {older} older than --since kept" in recent.output
        assert send("--since", since).output.startswith("nothing to send")
        assert send("--since", "1h").output.startswith(f"{older} events sent")
        assert send().output.startswith("nothing to send")
        assert len(late.received) == older + newer
    bad = send("--since", "yesterday")
    assert bad.exit_code == 2
    assert "neither a time (2024-05-01, 2024-05-01T12:00) nor a duration" in bad.output


def test_lineage_send_needs_a_target(shop):
    result = send()
    assert result.exit_code == 2
    assert "no OpenLineage target is configured to send to: set OPENLINEAGE_URL" in result.output


def test_a_killed_run_owes_what_it_did_not_send_and_its_fail_events(shop, monkeypatch):
    """kill -9 mid-run: what reached the endpoint is not sent again; the rest, and the
    FAIL events the store records for the dead run's open steps, are."""
    with serving() as receiver:
        env = clean_env(OPENLINEAGE_URL=receiver.url, SLOW_STEP_S="0.4")
        process = subprocess.Popen([str(ASSAY), "materialize", "-f", str(SLOW)], cwd=shop, env=env)
        try:
            wait_for(lambda: len(receiver.received) >= 4, timeout_s=60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        before = list(receiver.received)
        monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
        result = CliRunner().invoke(main, ["lineage", "send", "--home", str(shop / ".assay")])
        assert result.exit_code == 0, result.output
        stored = [json.loads(e) for e in assay.lineage.open(shop / ".assay").events()["event"]]
        assert "FAIL" in {e["eventType"] for e in stored}  # the dead run's open steps
        assert {key(e) for e in receiver.received} == {key(e) for e in stored}
        assert len(receiver.received) > len(before)  # the rest came with `lineage send`
        duplicates = len(receiver.received) - len(stored)
        assert 0 <= duplicates <= 1  # at most the event acknowledged as the run died
        assert send("--home", str(shop / ".assay")).output.startswith("nothing to send")


def test_openlineage_yml_chooses_the_transport(shop):
    (shop / "openlineage.yml").write_text(
        "transport:\n  type: file\n  log_file_path: sent.jsonl\n  append: true\n"
    )
    assert assay.load().materialize("orders", partitions=["2024-01-01"]).success
    sent = [json.loads(line) for line in (shop / "sent.jsonl").read_text().splitlines()]
    assert sorted(map(key, sent)) == sorted(map(key, stored_events(shop)))


def test_without_configuration_nothing_is_sent_or_printed(shop, receiver, monkeypatch):
    result = CliRunner().invoke(main, ["materialize", "orders", "--partition", "2024-01-01"])
    assert result.exit_code == 0, result.output
    assert "eventType" not in result.output  # the client alone would print every event
    assert last_run(shop)["lineage_target"] is None
    # and OPENLINEAGE_DISABLED wins over a URL
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assay.load().materialize("orders", partitions=["2024-01-02"])
    assert receiver.received == []
    assert last_run(shop)["lineage_events"] > 0
