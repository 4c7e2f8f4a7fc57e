"""The UI's main views on the example shop, as PNG files: `make screenshots`.

Builds the shop's state as the demo does (two months backfilled, one day re-exported
so that it and what reads it are stale), serves `assay ui`, and photographs each
view in Debian's headless Chromium.

    python assets_example/screenshots.py docs/img/ui
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VIEWS = {
    "graph": "/",
    "asset": "/assets/daily_revenue",
    "plan": "/plan",
    "runs": "/runs",
    "backfill": "/backfills",
    "checks": "/checks",
    "automation": "/automation",
}


def main(out: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / ".assay"
        env = {**os.environ, "ASSAY_HOME": str(home), "SHOP_LANDING": str(home / "landing")}
        assay = [sys.executable, "-m", "assay"]

        def run(*args: str) -> None:
            subprocess.run(args, cwd=root, env=env, check=True, capture_output=True)

        run(sys.executable, "-m", "assets_example.generate")
        run(*assay, "observe")
        run(*assay, "backfill", "start", "--from", "2024-01-01", "--to", "2024-02-29")
        run(sys.executable, "-m", "assets_example.generate", "--day", "2024-02-10", "--bump")
        run(*assay, "observe")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen([*assay, "ui", "--port", str(port)], cwd=root, env=env)
        try:
            _wait_for(port)
            options = webdriver.ChromeOptions()
            options.binary_location = "/usr/bin/chromium"
            for flag in (
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1400,900",
                f"--user-data-dir={Path(scratch) / 'chromium'}",
            ):
                options.add_argument(flag)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                for name, url in VIEWS.items():
                    driver.get(f"http://127.0.0.1:{port}{url}")
                    if name == "backfill":  # the backfill's own page, not the list
                        driver.find_element("css selector", "tr.backfill a").click()
                    time.sleep(0.5)
                    driver.save_screenshot(str(out / f"{name}.png"))
                    print(f"{out / name}.png")
                driver.get(f"http://127.0.0.1:{port}/runs?kind=backfill")
                driver.find_element("css selector", "table.runs tr.run a").click()
                time.sleep(0.5)
                driver.save_screenshot(str(out / "run.png"))
                print(f"{out / 'run'}.png")
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait()


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"assay ui did not listen on {port} within 60 s")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/ui"))
