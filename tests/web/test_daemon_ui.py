"""`assay daemon --ui`: the daemon serves the UI beside its loop."""

from __future__ import annotations

import signal
import subprocess
import urllib.request

import pytest

from tests.conftest import ASSAY, clean_env, wait_for
from tests.web.conftest import free_port

pytestmark = pytest.mark.slow


def test_the_daemon_serves_the_ui_and_shows_its_own_heartbeat(make_project, tmp_path) -> None:
    root = make_project("ui_shop")
    port = free_port()
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [str(ASSAY), "daemon", "--ui", "--ui-port", str(port)],
        cwd=root,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def page(path: str) -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return str(answer.read().decode())

        def answers() -> bool:
            try:
                return "ok" in page("/healthz")
            except OSError:
                return False

        wait_for(answers, timeout_s=60)
        wait_for(
            lambda: 'id="daemon"><span class="pill status-fresh">running' in page("/automation")
        )
        assert "nightly" in page("/automation")
        assert 'data-key="events"' in page("/")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        log.close()
    assert daemon.returncode == 0
    assert "assay UI on http://127.0.0.1:" in (tmp_path / "daemon.log").read_text()
