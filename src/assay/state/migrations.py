"""Versioned schema migrations of the state store. Append only: never edit a shipped step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import StateError

if TYPE_CHECKING:
    import duckdb

MIGRATIONS: tuple[str, ...] = (
    # 1: runs, steps, materializations, step logs, journal offsets
    """
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        status VARCHAR NOT NULL,
        selection VARCHAR,
        command VARCHAR,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        user_name VARCHAR,
        host VARCHAR,
        pid BIGINT,
        process_start VARCHAR,
        git_commit VARCHAR,
        assay_version VARCHAR,
        step_count INTEGER,
        succeeded_count INTEGER,
        failed_count INTEGER,
        skipped_count INTEGER
    );
    CREATE TABLE steps (
        run_id VARCHAR NOT NULL,
        step_key VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR,
        status VARCHAR NOT NULL,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        error VARCHAR,
        traceback VARCHAR,
        skip_reason VARCHAR,
        PRIMARY KEY (run_id, step_key)
    );
    CREATE TABLE materializations (
        materialization_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        row_count BIGINT,
        byte_size BIGINT,
        location VARCHAR,
        io VARCHAR,
        data_version VARCHAR,
        code_version VARCHAR,
        user_name VARCHAR,
        host VARCHAR,
        git_commit VARCHAR
    );
    CREATE INDEX materializations_asset ON materializations (asset_key, partition_key);
    CREATE TABLE step_logs (
        run_id VARCHAR NOT NULL,
        step_key VARCHAR NOT NULL,
        seq INTEGER NOT NULL,
        logged_at TIMESTAMPTZ,
        level VARCHAR,
        logger VARCHAR,
        message VARCHAR,
        PRIMARY KEY (run_id, step_key, seq)
    );
    CREATE TABLE journal_files (
        file VARCHAR PRIMARY KEY,
        indexed_bytes BIGINT NOT NULL,
        is_finished BOOLEAN NOT NULL
    );
    """,
    # 2: provenance, and the current state of every asset partition, for planning
    """
    ALTER TABLE materializations ADD COLUMN inputs_signature VARCHAR;
    ALTER TABLE materializations ADD COLUMN provenance VARCHAR;
    CREATE TABLE asset_partitions (
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR NOT NULL,  -- '' when the asset is unpartitioned
        materialization_id VARCHAR,
        run_id VARCHAR,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        data_version VARCHAR,
        code_version VARCHAR,
        inputs_signature VARCHAR,
        provenance VARCHAR,
        version_changed_at TIMESTAMPTZ,  -- when data_version last changed: early cut-off
        PRIMARY KEY (asset_key, partition_key)
    );
    INSERT INTO asset_partitions
    SELECT asset_key, coalesce(partition_key, ''), materialization_id, run_id, started_at,
           finished_at, data_version, code_version, inputs_signature, provenance, finished_at
    FROM materializations
    QUALIFY row_number() OVER (PARTITION BY asset_key, partition_key ORDER BY finished_at DESC) = 1;
    """,
    # 3: observations of source assets
    """
    CREATE TABLE observations (
        observation_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR,
        data_version VARCHAR NOT NULL,
        observed_at TIMESTAMPTZ NOT NULL
    );
    """,
    # 4: backfills, the runs that drive them, and step attempts
    """
    ALTER TABLE runs ADD COLUMN backfill_id VARCHAR;
    ALTER TABLE steps ADD COLUMN attempts INTEGER;
    CREATE TABLE backfills (
        backfill_id VARCHAR PRIMARY KEY,
        status VARCHAR NOT NULL,  -- running, canceling, canceled, completed, failed
        selection VARCHAR,
        partitions VARCHAR,  -- the partition selection as the user gave it
        is_forced BOOLEAN,
        executor VARCHAR,
        workers INTEGER,
        targets VARCHAR NOT NULL,  -- JSON: asset key -> [[first key, last key], ...] or null
        asset_count INTEGER,
        partition_count BIGINT,  -- asset partitions covered
        created_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        last_run_id VARCHAR,
        user_name VARCHAR,
        command VARCHAR
    );
    CREATE INDEX runs_backfill ON runs (backfill_id);
    """,
    # 5: results of schemas and asset checks
    """
    CREATE TABLE check_results (
        check_result_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR,
        check_name VARCHAR NOT NULL,  -- 'schema' for the asset's Pandera schema
        status VARCHAR NOT NULL,  -- passed, failed, errored
        passed BOOLEAN NOT NULL,
        severity VARCHAR NOT NULL,  -- error, warn
        blocking BOOLEAN NOT NULL,
        description VARCHAR,
        metadata VARCHAR,  -- JSON
        error VARCHAR,
        failures_path VARCHAR,  -- every failure case of a schema, as Parquet
        materialization_id VARCHAR,  -- what it judged (NULL: the output was not stored)
        data_version VARCHAR,
        checked_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX check_results_asset ON check_results (asset_key, check_name, partition_key);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema to SCHEMA_VERSION; return the version found before (0: new file).

    Raises:
        StateError: the file was written by a newer assay.
    """
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    found = int(row[0]) if row and row[0] is not None else 0
    if found > SCHEMA_VERSION:
        raise StateError(
            f"the state store has schema version {found}, newer than this assay knows "
            f"({SCHEMA_VERSION}): upgrade assay (pip install -U assay)"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN")
        con.execute(MIGRATIONS[version - 1])
        con.execute("INSERT INTO schema_version VALUES (?)", [version])
        con.execute("COMMIT")
    return found
