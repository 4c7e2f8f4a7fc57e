"""Sending lineage through the OpenLineage client's own configuration: to a real
HTTP receiver on localhost, to a closed port (the run must not wait), to a file
transport from openlineage.yml, and nowhere when nothing is configured."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from tests.openlineage_spec import validation_errors


class Receiver(ThreadingHTTPServer):
    """A lineage endpoint: keeps every event POSTed to /api/v1/lineage."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.paths: set[str] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.paths.add(self.path)
        self.server.received.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
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
    assert "were not sent to" in result.output
    assert "stored in the state store" in result.output
    run = last_run(shop)
    assert run["status"] == "succeeded"
    assert run["lineage_sent"] == 0
    assert run["lineage_failed"] == run["lineage_events"] > 0
    assert run["lineage_error"]
    assert len(stored_events(shop)) == run["lineage_events"]
    shown = CliRunner().invoke(main, ["runs", "show", run["run_id"]]).output
    total = run["lineage_events"]
    assert f"lineage: {total} events; 0 of {total} sent to http://127.0.0.1:{port}" in shown


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
