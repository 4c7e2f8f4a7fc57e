"""The UI's pages and actions through the ASGI test client, on a real state home."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import assay
from assay.state.store import StateStore
from assay.web.app import create_app
from tests.conftest import ASSAY, clean_env, wait_for

BASE = "http://127.0.0.1:3100"
FAIL_DAYS = "2024-01-10,2024-01-11"


@pytest.fixture
def shop(make_project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The UI shop with a month materialized: two days of `events` failed (and
    what reads them skipped), 2024-01-03 warns its check."""
    root = make_project("ui_shop")
    monkeypatch.setenv("UI_FAIL_DAYS", FAIL_DAYS)
    monkeypatch.setenv("UI_LOW_DAYS", "2024-01-03")
    assay.load().materialize()
    return root


def client(*, actions: bool = False, token: str | None = None) -> TestClient:
    return TestClient(
        create_app(assay.load(), actions=actions, token=token, background=False), base_url=BASE
    )


def csrf_of(web: TestClient) -> str:
    page = web.get("/plan").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    if found:
        return found.group(1)
    return web.cookies["assay_csrf"]


def nodes(page: str) -> dict[str, str]:
    """Asset key -> status, from the graph's SVG."""
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None
    root = ET.fromstring(svg.group(0))
    found = {}
    for element in root.iter():
        if element.get("data-key"):
            status = [c for c in element.get("class", "").split() if c.startswith("status-")]
            found[element.get("data-key")] = status[0].removeprefix("status-")
    return found


def test_every_view_answers_on_a_state_never_materialized(make_project) -> None:
    make_project("ui_shop")
    with client() as web:
        for url in ("/", "/plan", "/runs", "/backfills", "/checks", "/automation", "/healthz"):
            assert web.get(url).status_code == 200, url
        assert nodes(web.get("/").text) == {
            "events": "missing",
            "daily_totals": "missing",
            "summary": "missing",
        }
        page = web.get("/assets/events").text
        assert "31 missing" in page
        assert "Never materialized" in page


def test_the_graph_shows_each_status_and_the_selection_narrows_it(shop: Path) -> None:
    with client() as web:
        page = web.get("/").text
        assert nodes(page) == {"events": "failed", "daily_totals": "stale", "summary": "missing"}
        assert re.search(r"<title>daily_totals \(marts\): stale; [^<]*; why: ", html.unescape(page))
        assert nodes(web.get("/?select=summary").text) == {"summary": "missing"}
        around = nodes(web.get("/?select=summary&depth=1").text)
        assert set(around) == {"summary", "daily_totals"}
        assert set(nodes(web.get("/?select=%2Bsummary").text)) == {
            "events",
            "daily_totals",
            "summary",
        }
        bad = web.get("/?select=nosuch")
        assert bad.status_code == 200
        assert "nosuch" in bad.text
        assert 'role="alert"' in bad.text
        assert web.get("/?depth=many").status_code == 400
        assert "depth must be between 0 and 20" in web.get("/?depth=99").text


def test_the_graph_page_follows_the_store_through_its_status_endpoint(make_project) -> None:
    make_project("ui_shop")
    with client() as web:
        page = web.get("/?select=%2Bdaily_totals").text
        live = html.unescape(re.search(r'data-live="([^"]+)"', page).group(1))
        assert live == "/graph/status?select=%2Bdaily_totals&depth=0"
        before = web.get(live).json()
        assert before["status"] == nodes(page) == {"events": "missing", "daily_totals": "missing"}
        assert before["counts"] == [["missing", 2]]
        assay.load().materialize("events")
        after = web.get(live).json()
        assert after["status"] == {"events": "fresh", "daily_totals": "missing"}
        assert after["at"] != before["at"]
        assert after["titles"]["events"].startswith("events")
        assert sorted(after["counts"]) == [["fresh", 1], ["missing", 1]]


def test_the_asset_page_draws_the_failed_range_and_explains_a_partition(shop: Path) -> None:
    with client() as web:
        page = web.get("/assets/events").text
        bar = re.search(r'<div class="bar" id="health-bar">(.*?)</div>', page, re.S)
        assert bar is not None
        svg = ET.fromstring(bar.group(1))
        titles = [
            (rect.get("class"), "".join(t.itertext()))
            for rect in svg.iter()
            if (rect.get("class") or "").startswith("seg")
            for t in rect.iter("{http://www.w3.org/2000/svg}title")
        ]
        failed = [text for cls, text in titles if "status-failed" in cls]
        assert failed, titles
        assert "2024-01-10..2024-01-11" in failed[0]
        assert "29 fresh" in page
        assert "2 failed" in page
        assert "Events of one day" in page
        assert "team:data" in page
        assert "source=api" in page
        why = web.get("/assets/daily_totals?partition=2024-01-10").text
        assert "2024-01-10" in why
        assert 'class="why' in why
        assert "not_tiny" in web.get("/assets/daily_totals").text
        missing = web.get("/assets/no/such")
        assert missing.status_code == 404
        assert "no asset 'no/such'" in html.unescape(missing.text)


def test_runs_filter_and_a_run_page_shows_steps_timeline_and_traceback(shop: Path) -> None:
    with client() as web:
        runs = web.get("/runs").text
        run_id = re.search(r'href="/runs/([0-9a-f-]{36})"', runs)
        assert run_id is not None
        assert "/runs/" in web.get("/runs?status=failed").text
        assert run_id.group(1) not in web.get("/runs?status=succeeded").text
        assert run_id.group(1) in web.get("/runs?asset=events").text
        assert run_id.group(1) not in web.get("/runs?kind=schedule").text
        assert web.get("/runs?status=bogus").status_code == 400
        page = web.get(f"/runs/{run_id.group(1)}").text
        assert 'class="gantt"' in page
        assert "the API refused 2024-01-10" in page
        assert "RuntimeError" in page
        assert "Traceback" in page
        assert "hx-trigger" not in page  # a finished run is not polled
        assert web.get("/runs/ffffffff").status_code == 404


def test_no_secret_of_an_io_manager_is_shown(shop: Path) -> None:
    with client() as web:
        page = html.unescape(web.get("/assets/summary").text)
    assert "hunter2" not in page
    assert "ParquetIO(" in page
    assert "storage_options=…" in page


def test_checks_show_the_ranges_that_warn(shop: Path) -> None:
    with client() as web:
        page = web.get("/checks").text
        assert "not_tiny" in page
        assert "2024-01-03" in page
        assert "warned" in page
        assert "not_tiny" in web.get("/checks?status=warned").text
        assert "not_tiny" not in web.get("/checks?status=failed").text


def test_the_plan_says_what_is_stale_and_why(shop: Path) -> None:
    with client(actions=True) as web:
        page = web.get("/plan").text
        assert "events" in page
        assert "summary" in page
        assert "Materialize these" in page
        assert "never materialized" in page or "missing" in page
        assert "Materialize these" not in client().get("/plan").text  # read-only


def test_automation_lists_the_schedule_with_its_next_tick(shop: Path) -> None:
    with client() as web:
        page = web.get("/automation").text
        assert "nightly" in page
        assert "0 6 * * * (UTC)" in page
        assert "not running" in page


def test_a_read_only_ui_refuses_every_action(shop: Path) -> None:
    with client() as web:
        token = csrf_of(web)
        for url in ("/actions/materialize", "/schedules/nightly/disable", "/runs/x/cancel"):
            answer = web.post(url, data={"csrf": token}, headers={"Origin": BASE})
            assert answer.status_code == 403, url
            assert "read-only" in answer.text


def test_posts_from_another_site_or_without_the_csrf_value_are_refused(shop: Path) -> None:
    with client(actions=True) as web:
        token = csrf_of(web)
        other = web.post(
            "/schedules/nightly/disable", data={"csrf": token}, headers={"Origin": "http://evil"}
        )
        assert other.status_code == 403
        assert "not from this UI" in other.text
        no_origin = web.post("/schedules/nightly/disable", data={"csrf": token})
        assert no_origin.status_code == 403
        forged = web.post(
            "/schedules/nightly/disable", data={"csrf": "guess"}, headers={"Origin": BASE}
        )
        assert forged.status_code == 403
        assert "CSRF" in forged.text
        done = web.post(
            "/schedules/nightly/disable",
            data={"csrf": token},
            headers={"Origin": BASE},
            follow_redirects=False,
        )
        assert done.status_code == 303
        page = web.get("/automation").text
        assert re.search(r"nightly</td><td>no</td>", page), page


def test_a_token_is_asked_once_then_kept_in_a_cookie(shop: Path) -> None:
    with client(token="s3cret") as web:
        assert web.get("/").status_code == 401
        assert web.get("/?token=wrong").status_code == 401
        assert web.get("/healthz").status_code == 200
        assert web.get("/?token=s3cret").status_code == 200
        assert web.get("/runs").status_code == 200  # the cookie
    with client(token="s3cret") as web:
        assert web.get("/", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_materialization_from_the_ui_is_an_ordinary_run(shop: Path) -> None:
    with client(actions=True) as web:
        token = csrf_of(web)
        answer = web.post(
            "/actions/materialize",
            data={"csrf": token, "select": "summary"},
            headers={"Origin": BASE},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        run_id = answer.headers["location"].removeprefix("/runs/")

        assert web.get(f"/runs/{run_id}").status_code == 200  # before it is indexed too

        def ended() -> bool:
            live = web.get(f"/runs/{run_id}/live").text
            return 'data-status="succeeded"' in live or 'data-status="failed"' in live

        wait_for(ended, timeout_s=60)
        page = web.get(f"/runs/{run_id}").text
        assert 'id="run-status">failed' in page or 'id="run-status">succeeded' in page
        assert run_id in web.get("/runs").text


def test_pages_never_index_and_keep_answering_while_a_notebook_holds_the_store(
    shop: Path,
) -> None:
    store = StateStore(shop / ".assay")
    written = store.path.stat().st_mtime_ns
    with client() as web:
        assert web.get("/runs").status_code == 200
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                "print('held', flush=True); time.sleep(60)",
                str(store.path),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            for url in ("/", "/assets/events", "/plan", "/runs"):
                assert web.get(url).status_code == 200, url
            page = web.get("/assets/daily_totals").text  # its history was never read
            assert "the store cannot be read now" in page
            fresh = web.get("/backfills")  # a history view never read before: it waits
            assert fresh.status_code == 503
            assert "Waiting for the state store" in fresh.text
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        assert web.get("/backfills").status_code == 200
    assert store.path.stat().st_mtime_ns == written  # a UI never writes the store


def test_the_cli_does_not_import_the_ui_and_refuses_to_expose_it_without_a_token(
    shop: Path,
) -> None:
    code = (
        "import sys; from assay.cli.main import main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'jinja2') or m.startswith('assay.web')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
    exposed = subprocess.run(
        [str(ASSAY), "ui", "--host", "0.0.0.0"], capture_output=True, text=True, env=clean_env()
    )
    assert exposed.returncode == 2
    assert exposed.stderr.count("\n") == 1
    assert "no token" in exposed.stderr


def test_the_ui_page_python_example_runs_as_written(make_project) -> None:
    root = make_project("ui_shop")
    text = (Path(__file__).parents[2] / "docs" / "ui.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    module = next(p.stem for p in root.glob("ui_shop_*.py"))
    exec(
        compile(
            code.replace('"pipeline"', repr(module)).replace("orders", "events"), "ui.md", "exec"
        ),
        {},
    )


def test_pages_are_drawn_again_only_when_what_they_show_moved(shop: Path) -> None:
    app = create_app(assay.load(), background=True)
    ui = app.state.ui
    with TestClient(app, base_url=BASE) as web:
        wait_for(lambda: ui.keeper.latest is not None)
        first = web.get("/runs").text
        opened = ui.reads.opened
        for _ in range(20):
            assert web.get("/runs").text == first
        assert ui.reads.opened == opened  # twenty polls, not one read of the store
        result = assay.load().materialize("events", partitions=["2024-01-01"], force=True)
        wait_for(lambda: result.run_id in web.get("/runs").text, timeout_s=30)


def test_the_asset_page_names_resources_and_shows_configuration_not_secrets(
    make_project, monkeypatch
) -> None:
    make_project("resourced")
    monkeypatch.setenv("SHOP_TOKEN", "s3cr3t-for-the-ui")
    assert assay.load().materialize().success
    web = client()
    orders = web.get("/assets/orders").text
    assert "<dt>resources</dt><dd><code>shop</code>" in orders
    scored = html.unescape(web.get("/assets/scored").text)
    assert "region='eu'" in scored
    assert "threshold=0.05" in scored
    run_id = assay.load().state.runs(limit=1)[0].run_id
    assert "s3cr3t" not in web.get(f"/runs/{run_id}").text
    configured = assay.load().materialize("scored", config={"scored": {"region": "us"}})
    run = html.unescape(web.get(f"/runs/{configured.run_id}").text)
    assert "config of scored" in run
    assert "region='us'" in run
    for page in ("/", "/assets/orders", "/runs", "/graph"):
        assert "s3cr3t-for-the-ui" not in web.get(page).text
