"""The UI's partition bars on dynamic partitions: the keys as stored, their order
of addition, and a key removed leaving the bar."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from starlette.testclient import TestClient

import assay
from assay.web.app import create_app

SVG = "{http://www.w3.org/2000/svg}"


def bar_titles(page: str) -> list[tuple[str, str]]:
    bar = re.search(r'<div class="bar" id="health-bar">(.*?)</div>', page, re.S)
    assert bar is not None, page
    return [
        (rect.get("class") or "", "".join(t.itertext()))
        for rect in ET.fromstring(bar.group(1)).iter()
        if (rect.get("class") or "").startswith("seg")
        for t in rect.iter(f"{SVG}title")
    ]


def test_the_bar_shows_the_stored_keys_and_follows_their_removal(make_project) -> None:
    make_project("customers")
    project = assay.load()
    project.add_partitions("customers", ["acme", "globex", "initech"])
    assert project.materialize("orders", partitions=["acme", "globex"]).success
    with TestClient(create_app(assay.load(), background=False), base_url="http://x") as web:
        page = web.get("/assets/orders").text
        assert "2 fresh" in page
        assert "1 missing" in page
        titles = bar_titles(page)
        assert any("status-fresh" in c and "acme..globex (2)" in t for c, t in titles), titles
        assert any("status-missing" in c and "initech" in t for c, t in titles), titles
        why = web.get("/assets/orders?partition=initech").text
        assert "initech" in why
    project.remove_partitions("customers", ["globex"])
    with TestClient(create_app(assay.load(), background=False), base_url="http://x") as web:
        page = web.get("/assets/orders").text
        assert "1 fresh" in page
        titles = bar_titles(page)
        assert not any("globex" in t for _, t in titles), titles
        assert "all_customers" in web.get("/").text
