"""Finished journals bundled into one xz stream: read back as the journals they were,
once each whatever a crash left, and pruned from a bundle by writing it anew."""

import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest

from assay.state import bundles
from assay.state.journal import Journal
from assay.state.prune import prune_state
from assay.state.reader import StateReader
from assay.state.store import StateStore
from tests.state_snapshots import snapshot

RUNS = 7


@pytest.fixture
def bundled_home(tmp_path, monkeypatch):
    """A home whose seven finished runs were bundled (at five journals, not 64)."""
    monkeypatch.setattr(bundles, "BUNDLE_AT", 5)
    store = StateStore(tmp_path)
    for number in range(RUNS):
        run_id = f"r{number}"
        with Journal(store.journal_dir, run_id) as journal:
            started = time.time()
            journal.append(
                {"type": "run", "run_id": run_id, "status": "running", "started_at": started},
                {
                    "type": "step",
                    "run_id": run_id,
                    "step_key": "a",
                    "asset_key": "a",
                    "status": "succeeded",
                    "started_at": started,
                    "finished_at": started,
                },
                {"type": "run", "run_id": run_id, "status": "succeeded", "started_at": started},
            )
        store.index_pending()
    return tmp_path


def test_enough_finished_journals_make_one_bundle_read_back_as_they_were(bundled_home):
    done = bundled_home / "journal" / "done"
    (bundle,) = bundles.bundles(done)
    assert bundles.names(bundle) == [f"r{n}.jsonl" for n in range(5)]
    assert sorted(p.name for p in done.glob("*.gz")) == ["r5.jsonl.gz", "r6.jsonl.gz"]
    assert b'"run_id":"r3"' in bundles.archived(done, "r3.jsonl")
    before = snapshot(bundled_home / "assay.duckdb")
    StateStore(bundled_home).rebuild()
    assert snapshot(bundled_home / "assay.duckdb") == before  # journal_files included


def test_a_journal_left_loose_beside_its_bundle_is_read_once(bundled_home):
    done = bundled_home / "journal" / "done"
    (bundle,) = bundles.bundles(done)
    for name, data in bundles.journals(bundle):  # as if a crash stopped before removing them
        (done / name).write_bytes(data)
    shutil.copy(bundle, done / f"{bundles.BUNDLE_PREFIX}copy{bundles.BUNDLE_SUFFIX}")
    before = snapshot(bundled_home / "assay.duckdb")
    StateStore(bundled_home).rebuild()
    assert snapshot(bundled_home / "assay.duckdb") == before


def test_prune_writes_a_bundle_anew_without_the_runs_it_forgets(bundled_home, monkeypatch):
    done = bundled_home / "journal" / "done"
    report = prune_state(bundled_home, before=datetime.now(UTC) + timedelta(hours=1))
    assert report.runs == RUNS
    assert not bundles.bundles(done)
    assert not list(done.glob("r*"))
    StateStore(bundled_home).rebuild()
    assert StateReader(bundled_home).runs() == []


def test_a_damaged_bundle_is_set_aside_and_the_rest_is_indexed(bundled_home):
    done = bundled_home / "journal" / "done"
    (bundle,) = bundles.bundles(done)
    bundle.write_bytes(bundle.read_bytes()[:40])
    StateStore(bundled_home).rebuild()
    assert {run.run_id for run in StateReader(bundled_home).runs()} == {"r5", "r6"}
    count, quarantined = StateReader(bundled_home).quarantined()
    assert count == 1
    assert "cannot read this bundle" in quarantined[0].reason
