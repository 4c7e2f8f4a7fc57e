"""A real browser for the UI's tests: Debian's headless Chromium driven by Selenium
through chromedriver (`make test` and `.ci/run` install both). A test that fails
leaves a screenshot of the page in `.pytest-screenshots/`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parents[2] / ".pytest-screenshots"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash.setdefault(_FAILED, False)
        if report.failed:
            item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A headless Chromium (a new profile per test); a screenshot if the test fails."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(
            "the browser tests need Debian's chromium and chromium-driver: "
            "`make test` installs them (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # this machine's network is closed
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        if request.node.stash.get(_FAILED, False):
            SHOTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(SHOTS / f"{request.node.name}.png"))
        driver.quit()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve_ui(tmp_path: Path) -> Iterator[object]:
    """`serve_ui(root, env, *flags)` starts `assay ui` for the project at `root` and
    returns its base URL; stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[object] = []

    def serve(root: Path, env: dict[str, str], *flags: str) -> str:
        port = free_port()
        assay = Path(sys.executable).parent / "assay"
        log = (tmp_path / f"ui-{port}.log").open("wb")
        logs.append(log)
        process = subprocess.Popen(
            [str(assay), "ui", "--port", str(port), *flags],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(
                    f"assay ui exited: {(tmp_path / f'ui-{port}.log').read_text()}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.1)
        raise AssertionError("assay ui did not start listening in 60 s")

    yield serve
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for log in logs:
        log.close()  # type: ignore[attr-defined]
