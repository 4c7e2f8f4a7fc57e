"""Alert deliveries made outside runs have a journal of their own: indexed like any
other, ended by `journal_closed`, and closed for them when their process died."""

from assay import Webhook
from assay.alerting.delivery import AlertJournal, delivery_record
from assay.alerting.events import probe_event
from assay.state.store import StateStore
from tests.state_snapshots import assert_state_equals_journals


def _rows(store):
    with store.reading() as con:
        return con.execute(
            "SELECT target, target_kind, event_kind, status, attempt FROM alert_deliveries "
            "ORDER BY attempt"
        ).fetchall()


def test_an_alert_journal_is_indexed_then_archived_once_closed(tmp_path):
    event, target = probe_event("ops", "shop"), Webhook(name="ops", url_env="OPS_URL")
    journal = AlertJournal(tmp_path / "home")
    journal.append(delivery_record(event, target, "pending", 0, with_event=True))
    journal.append(delivery_record(event, target, "sent", 1))
    store = StateStore(tmp_path / "home")
    assert store.index_pending().records == 2
    assert list(store.journal_dir.glob("alerts-*.jsonl"))  # open: not archived

    journal.close()

    store.index_pending()
    assert _rows(store) == [
        ("ops", "webhook", "test", "pending", 0),
        ("ops", "webhook", "test", "sent", 1),
    ]
    assert not list(store.journal_dir.glob("*.jsonl"))
    assert len(list((store.journal_dir / "done").glob("alerts-*.jsonl*"))) == 1
    assert_state_equals_journals(tmp_path / "home", tmp_path / "scratch")


def test_an_alert_journal_its_process_left_open_is_closed_for_it(tmp_path):
    event, target = probe_event("ops", "shop"), Webhook(name="ops", url_env="OPS_URL")
    journal = AlertJournal(tmp_path)
    journal.append(delivery_record(event, target, "pending", 0, with_event=True))
    journal._journal.close()  # what a kill leaves: the lock gone, no journal_closed

    store = StateStore(tmp_path)
    report = store.index_pending()

    assert report.quarantined == 0
    assert _rows(store) == [("ops", "webhook", "test", "pending", 0)]
    assert not list(store.journal_dir.glob("*.jsonl"))  # closed and archived
    with store.reading() as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
