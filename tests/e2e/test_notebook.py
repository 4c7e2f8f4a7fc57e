"""notebooks/lineage.ipynb, executed from a clean state by a real Jupyter kernel."""

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "lineage.ipynb"

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_the_notebook_is_committed_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], cell["source"][:80]
            assert cell["execution_count"] is None


def test_the_lineage_notebook_runs_from_a_clean_state(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOP_LANDING", str(tmp_path / "landing"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure

    outputs = [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]
    texts = "\n".join(
        str(output.get("data", {}).get("text/plain", output.get("text", "")))
        for cell in outputs
        for output in cell
    )
    pictures = [
        output for cell in outputs for output in cell if "image/png" in output.get("data", {})
    ]
    assert len(pictures) >= 2, "the lineage graph and the per-partition chart"
    assert "customer_lifetime_value" in texts
    assert "2024-02-10" in texts  # the re-exported day's two versions
    assert (tmp_path / "home" / "assay.duckdb").exists()
