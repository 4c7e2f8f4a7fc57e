"""The UI in a real headless Chromium: what an operator sees and does."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ASSAY, clean_env

pytestmark = pytest.mark.slow


def wait(driver, seconds: float = 60):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, seconds, poll_frequency=0.2)


def node_status(driver, key: str) -> str:  # type: ignore[no-untyped-def]
    element = driver.find_element(By.CSS_SELECTOR, f'g.node[data-key="{key}"]')
    return next(c for c in element.get_attribute("class").split() if c.startswith("status-"))


@pytest.fixture
def shop(make_project) -> tuple[Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    root = make_project("ui_shop")
    env = clean_env(UI_FAIL_DAYS="2024-01-10,2024-01-11")
    subprocess.run([str(ASSAY), "materialize"], cwd=root, env=env, capture_output=True)
    return root, env


def test_the_graph_shows_statuses_and_the_asset_page_a_failed_range(
    shop, browser, serve_ui
) -> None:  # type: ignore[no-untyped-def]
    root, env = shop
    base = serve_ui(root, env)
    browser.get(base + "/")
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "g.node")))
    assert node_status(browser, "events") == "status-failed"
    assert node_status(browser, "daily_totals") == "status-stale"
    assert node_status(browser, "summary") == "status-missing"
    browser.find_element(By.CSS_SELECTOR, 'g.node[data-key="events"] a').click()
    wait(browser).until(ec.url_contains("/assets/events"))
    failed = browser.find_elements(By.CSS_SELECTOR, "#health-bar rect.seg.status-failed")
    assert failed, browser.page_source[:2000]
    title = failed[0].find_element(By.XPATH, "./*[local-name()='title']")
    assert "2024-01-10..2024-01-11" in title.get_attribute("textContent")
    assert failed[0].size["width"] > 10  # two days of 31 are visible on the bar


def test_a_materialization_from_the_ui_runs_and_its_page_follows_it(
    make_project, browser, serve_ui
) -> None:  # type: ignore[no-untyped-def]
    root = make_project("ui_shop")
    env = clean_env(UI_STEP_S="0.15")
    base = serve_ui(root, env, "--actions")
    browser.get(base + "/plan?select=events")
    wait(browser).until(ec.element_to_be_clickable((By.ID, "materialize-plan"))).click()
    wait(browser).until(ec.url_contains("/runs/"))

    def status(driver) -> str:  # type: ignore[no-untyped-def]
        # read in the page: htmx replaces the element every two seconds
        return str(
            driver.execute_script(
                "const e = document.getElementById('run-status'); return e ? e.textContent : ''"
            )
        )

    wait(browser).until(lambda d: status(d) == "running")
    seen_running_steps = set()
    deadline = time.monotonic() + 90
    while status(browser) == "running" and time.monotonic() < deadline:
        seen_running_steps.add(
            browser.execute_script("return document.querySelectorAll('tr.step').length")
        )
        time.sleep(0.3)
    assert status(browser) == "succeeded"
    assert len(seen_running_steps) > 1, "the run page did not update while the run went"
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.step.status-succeeded")) == 31
    browser.get(base + "/runs")
    assert "succeeded" in browser.find_element(By.CSS_SELECTOR, "table.runs tr.run").text
    browser.get(base + "/")
    wait(browser).until(lambda d: node_status(d, "events") == "status-fresh")


def test_a_backfill_started_from_the_ui_can_be_cancelled_and_resumed(
    make_project, browser, serve_ui
) -> None:  # type: ignore[no-untyped-def]
    root = make_project("ui_shop")
    env = clean_env(UI_STEP_S="0.3")
    base = serve_ui(root, env, "--actions")
    browser.get(base + "/assets/events")
    browser.find_element(By.NAME, "from").send_keys("2024-01-01")
    browser.find_element(By.NAME, "to").send_keys("2024-01-31")
    browser.find_element(By.XPATH, "//button[text()='Start backfill']").click()
    wait(browser).until(ec.url_contains("/runs/"))
    browser.get(base + "/backfills")
    wait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "tr.backfill a") or d.refresh()
    )
    browser.find_element(By.CSS_SELECTOR, "tr.backfill a").click()
    wait(browser).until(ec.element_to_be_clickable((By.ID, "cancel-backfill"))).click()

    def backfill(driver) -> str:  # type: ignore[no-untyped-def]
        return str(
            driver.execute_script(
                "const e = document.getElementById('backfill-status');return e ? e.textContent : ''"
            )
        )

    wait(browser, 90).until(lambda d: backfill(d) == "canceled" or d.refresh())
    wait(browser).until(ec.element_to_be_clickable((By.ID, "resume-backfill"))).click()
    wait(browser, 120).until(lambda d: backfill(d) == "completed" or d.refresh())
    progress = browser.find_element(By.CSS_SELECTOR, "tr.progress").text
    assert "31" in progress
