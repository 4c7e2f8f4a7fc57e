"""Schema migrations: an older store comes up to date with every row it held."""

import duckdb

from assay.state.migrations import MIGRATIONS, SCHEMA_VERSION, migrate
from assay.state.store import BLOCK_SIZE, StateStore


def _at_version(path, version):
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, sql in enumerate(MIGRATIONS[:version], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?)", [number])
    return con


def _compression(con, table, column):
    rows = con.execute(
        "SELECT DISTINCT compression FROM pragma_storage_info(?) WHERE column_name = ? "
        "AND segment_type = 'VARCHAR'",
        [table, column],
    ).fetchall()
    return {row[0] for row in rows}


def test_eleven_compresses_events_and_check_metadata_keeping_every_row(tmp_path):
    con = _at_version(tmp_path / "assay.duckdb", 10)
    con.execute(
        "INSERT INTO lineage_events (event_id, run_id, event_type, event_time, kind, ol_run_id, "
        "event) VALUES ('e1', 'r1', 'FAIL', now(), 'asset', 'o1', "
        """'{"run": {"facets": {"errorMessage": {"message": "boom"}}}}')"""
    )
    con.execute(
        "INSERT INTO check_results (check_result_id, run_id, asset_key, check_name, status, "
        "passed, severity, blocking, metadata, checked_at, seq, check_version) VALUES "
        """('c1', 'r1', 'orders', 'schema', 'passed', true, 'error', true, '{"rows": 3}', """
        "now(), 7, 'v1')"
    )
    assert migrate(con) == 10
    assert con.execute("SELECT max(version) FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    assert con.execute("SELECT error FROM lineage_runs").fetchall() == [("boom",)]  # views too
    assert con.execute("SELECT metadata, seq, check_version FROM check_results").fetchall() == [
        ('{"rows": 3}', 7, "v1")
    ]
    con.execute("CHECKPOINT")
    assert _compression(con, "lineage_events", "event") == {"ZSTD"}
    assert _compression(con, "check_results", "metadata") == {"ZSTD"}
    indexes = {row[0] for row in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    assert "check_results_asset" in indexes
    con.close()


def test_eighteen_derives_each_partitions_latest_attempt_from_the_steps(tmp_path, caplog):
    con = _at_version(tmp_path / "assay.duckdb", 17)
    con.execute(
        "INSERT INTO steps (run_id, step_key, asset_key, partition_key, status, started_at) "
        "VALUES ('r1', 'a[p]', 'a', 'p', 'failed', TIMESTAMPTZ '2026-01-01 00:00:00+00'), "
        "('r2', 'a[p]', 'a', 'p', 'succeeded', TIMESTAMPTZ '2026-01-02 00:00:00+00'), "
        "('r3', 'a[p]', 'a', 'p', 'skipped', TIMESTAMPTZ '2026-01-03 00:00:00+00'), "
        "('r1', 'b', 'b', NULL, 'running', TIMESTAMPTZ '2026-01-01 00:00:00+00'), "
        "('r1', 'c', 'c', NULL, 'skipped', NULL)"
    )
    with caplog.at_level("WARNING", logger="assay.state"):
        assert migrate(con) == 17
    assert con.execute(
        "SELECT asset_key, partition_key, run_id, status FROM partition_attempts ORDER BY ALL"
    ).fetchall() == [("a", "p", "r2", "succeeded"), ("b", "", "r1", "running")]
    # a store being upgraded says so (a CLI shows it as a note), a current one does not
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1
    assert said[0].startswith(
        f"upgrading the state store from schema version 17 to {SCHEMA_VERSION}"
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="assay.state"):
        assert migrate(con) == SCHEMA_VERSION
    assert caplog.records == []
    con.close()


def test_a_new_store_has_small_blocks(tmp_path):
    store = StateStore(tmp_path)
    store.index_pending()
    with store.reading() as con:
        assert con is None  # nothing journaled: no file yet
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "r1.jsonl").write_text(
        '{"type": "run", "run_id": "r1", "status": "succeeded", "started_at": 1.0}\n'
    )
    store.index_pending()
    with store.reading() as con:
        (block,) = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
    assert block == BLOCK_SIZE


def _schema(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "columns": con.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns ORDER BY ALL"
            ).fetchall(),
            "indexes": con.execute(
                "SELECT index_name, sql FROM duckdb_indexes() ORDER BY 1"
            ).fetchall(),
            "views": con.execute(
                "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1"
            ).fetchall(),
            "versions": con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall(),
            "block_size": con.execute("SELECT block_size FROM pragma_database_size()").fetchone(),
        }
    finally:
        con.close()


def _new_store(home):
    (home / "journal").mkdir(parents=True)
    StateStore(home).index_pending()
    return home / "assay.duckdb"


def test_a_new_store_is_a_copy_of_the_template_and_the_same_as_the_chain_makes(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path / "cache"))
    first = _new_store(tmp_path / "a")  # makes the template
    (template,) = (tmp_path / "cache").glob("*.duckdb")
    copied = _new_store(tmp_path / "b")
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(first))  # a file: no cache, the chain
    chained = _new_store(tmp_path / "c")
    assert list((tmp_path / "cache").glob("*.duckdb")) == [template]
    assert _schema(first) == _schema(copied) == _schema(chained)
    assert _schema(chained)["versions"] == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    assert _schema(chained)["block_size"] == (BLOCK_SIZE,)


def test_a_damaged_template_is_made_again_and_never_copied(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_CACHE_DIR", str(tmp_path / "cache"))
    _new_store(tmp_path / "a")
    (template,) = (tmp_path / "cache").glob("*.duckdb")
    good = template.read_bytes()
    template.write_bytes(good[: len(good) // 2])  # cut short, say
    store = _new_store(tmp_path / "b")
    assert len(template.read_bytes()) == len(good)  # whole again
    assert _schema(store) == _schema(tmp_path / "a" / "assay.duckdb")
