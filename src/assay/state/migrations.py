"""Versioned schema migrations of the state store. Append only: never edit a shipped step."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from assay.errors import StateError
from assay.state.indexer import update_attempts, update_current

if TYPE_CHECKING:
    import duckdb

_log = logging.getLogger("assay.state")

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
    # 6: OpenLineage events, with views that make lineage easy to query
    """
    ALTER TABLE runs ADD COLUMN lineage_events INTEGER;  -- events recorded by the run
    ALTER TABLE runs ADD COLUMN lineage_errors INTEGER;  -- events that could not be built
    ALTER TABLE runs ADD COLUMN lineage_target VARCHAR;  -- where they were also sent
    ALTER TABLE runs ADD COLUMN lineage_sent INTEGER;
    ALTER TABLE runs ADD COLUMN lineage_failed INTEGER;
    ALTER TABLE runs ADD COLUMN lineage_error VARCHAR;
    -- no key constraint: each journal byte is indexed once (its offset commits with
    -- the records), and the index would cost a sixth of the insert time
    CREATE TABLE lineage_events (
        event_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,  -- the assay run that recorded it
        event_type VARCHAR NOT NULL,  -- START, COMPLETE, FAIL, ABORT; DATASET
        event_time TIMESTAMPTZ NOT NULL,
        kind VARCHAR NOT NULL,  -- asset, check, run, observation
        ol_run_id VARCHAR,  -- the OpenLineage run (NULL for a dataset event)
        job_namespace VARCHAR,
        job_name VARCHAR,
        asset_key VARCHAR,
        partition_key VARCHAR,
        parent_run_id VARCHAR,
        inputs STRUCT(
            namespace VARCHAR, name VARCHAR, asset_key VARCHAR, version VARCHAR,
            partitions VARCHAR
        )[],
        outputs STRUCT(
            namespace VARCHAR, name VARCHAR, asset_key VARCHAR, version VARCHAR,
            partitions VARCHAR
        )[],
        event VARCHAR NOT NULL  -- the event's JSON, as emitted
    );
    CREATE VIEW lineage_runs AS
    SELECT
        ol_run_id AS run_id,
        any_value(job_namespace) AS job_namespace,
        any_value(job_name) AS job_name,
        any_value(kind) AS kind,
        any_value(asset_key) AS asset_key,
        any_value(partition_key) AS partition_key,
        any_value(run_id) AS assay_run_id,
        any_value(parent_run_id) AS parent_run_id,
        coalesce(max(event_type) FILTER (WHERE event_type <> 'START'), 'RUNNING') AS state,
        min(event_time) FILTER (WHERE event_type = 'START') AS started_at,
        max(event_time) FILTER (WHERE event_type <> 'START') AS ended_at,
        epoch(ended_at) - epoch(started_at) AS duration_s,
        max(event ->> '$.run.facets.errorMessage.message') AS error
    FROM lineage_events
    WHERE ol_run_id IS NOT NULL
    GROUP BY ol_run_id;
    CREATE VIEW lineage_io AS
    WITH latest AS (
        SELECT * FROM lineage_events
        WHERE ol_run_id IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY ol_run_id ORDER BY event_type = 'START', event_time DESC
        ) = 1
    )
    SELECT ol_run_id AS run_id, job_namespace, job_name, kind, partition_key,
           event_type AS state, event_time, 'input' AS direction,
           d.namespace, d.name, d.asset_key, d.version, d.partitions
    FROM latest, unnest(inputs) AS t(d)
    UNION ALL
    SELECT ol_run_id, job_namespace, job_name, kind, partition_key,
           event_type, event_time, 'output',
           d.namespace, d.name, d.asset_key, d.version, d.partitions
    FROM latest, unnest(outputs) AS t(d);
    CREATE VIEW lineage_jobs AS
    SELECT job_namespace, job_name, any_value(kind) AS kind, any_value(asset_key) AS asset_key,
           count(*) AS runs, max(started_at) AS last_started_at,
           arg_max(state, started_at) AS last_state
    FROM lineage_runs
    GROUP BY job_namespace, job_name;
    CREATE VIEW lineage_dataset_versions AS
    SELECT d.namespace, d.name, d.asset_key, coalesce(partition_key, '') AS partition_key,
           d.version, event_time AS recorded_at, kind, ol_run_id AS run_id, job_name
    FROM lineage_events, unnest(outputs) AS t(d)
    WHERE event_type IN ('COMPLETE', 'DATASET') AND d.version IS NOT NULL;
    CREATE VIEW lineage_datasets AS
    SELECT namespace, name, any_value(asset_key) AS asset_key,
           min(event_time) AS first_seen, max(event_time) AS last_seen,
           count(DISTINCT run_id) FILTER (WHERE direction = 'output') AS written_by_runs,
           count(DISTINCT run_id) FILTER (WHERE direction = 'input') AS read_by_runs
    FROM (
        SELECT namespace, name, asset_key, event_time, run_id, direction FROM lineage_io
        UNION ALL
        SELECT d.namespace, d.name, d.asset_key, event_time, NULL, 'observed'
        FROM lineage_events, unnest(outputs) AS t(d)
        WHERE event_type = 'DATASET'
    )
    GROUP BY namespace, name;
    CREATE VIEW lineage_edges AS
    SELECT DISTINCT i.namespace AS from_namespace, i.name AS from_name,
           i.asset_key AS from_asset, o.namespace AS to_namespace, o.name AS to_name,
           o.asset_key AS to_asset, o.job_namespace, o.job_name
    FROM lineage_io i
    JOIN lineage_io o ON i.run_id = o.run_id AND o.direction = 'output'
    WHERE i.direction = 'input';
    """,
    # 7: order by a clock that never goes back (`seq`), not by wall time; journals known
    # by file name; records that cannot be indexed kept aside
    """
    ALTER TABLE materializations ADD COLUMN seq BIGINT;  -- when it was journaled
    ALTER TABLE materializations ADD COLUMN started_seq BIGINT;  -- before it read its inputs
    ALTER TABLE observations ADD COLUMN seq BIGINT;
    ALTER TABLE check_results ADD COLUMN seq BIGINT;
    ALTER TABLE backfills ADD COLUMN seq BIGINT;  -- the latest record of a backfill wins
    CREATE TABLE backfill_cancels (  -- asked from another process
        backfill_id VARCHAR NOT NULL,
        status VARCHAR NOT NULL,  -- canceling (its driver was alive) or canceled
        "at" TIMESTAMPTZ,
        seq BIGINT
    );
    INSERT INTO backfill_cancels
    SELECT backfill_id, status, finished_at, NULL FROM backfills
    WHERE status IN ('canceling', 'canceled');
    DROP TABLE asset_partitions;
    CREATE TABLE asset_partitions (
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR NOT NULL,  -- '' when the asset is unpartitioned
        materialization_id VARCHAR,  -- or the observation's id, for a source
        run_id VARCHAR,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        data_version VARCHAR,
        code_version VARCHAR,
        inputs_signature VARCHAR,
        provenance VARCHAR,
        version_changed_at TIMESTAMPTZ,  -- when data_version last changed (for people)
        seq BIGINT,  -- the current record's: the latest by this wins
        started_seq BIGINT,  -- before the current materialization read its inputs
        changed_seq BIGINT,  -- when data_version last changed (for the planner)
        PRIMARY KEY (asset_key, partition_key)
    );
    CREATE TABLE quarantine (
        journal VARCHAR NOT NULL,  -- the journal's file name
        byte_offset BIGINT NOT NULL,  -- where the line starts in it
        reason VARCHAR NOT NULL,
        line VARCHAR,  -- the start of the line (the journal keeps all of it)
        PRIMARY KEY (journal, byte_offset)
    );
    CREATE TABLE journal_files_by_name (
        file VARCHAR PRIMARY KEY,  -- the file name, in journal/ or journal/done/
        indexed_bytes BIGINT NOT NULL,
        is_finished BOOLEAN NOT NULL
    );
    INSERT INTO journal_files_by_name
    SELECT regexp_extract(file, '[^/]+$'), max(indexed_bytes), bool_or(is_finished)
    FROM journal_files GROUP BY 1;
    DROP TABLE journal_files;
    ALTER TABLE journal_files_by_name RENAME TO journal_files;
    """,
    # 8: what kind of run each is; a step's error as fields
    """
    ALTER TABLE runs ADD COLUMN kind VARCHAR;  -- materialize, backfill, check, observe
    UPDATE runs SET kind = CASE
        WHEN backfill_id IS NOT NULL THEN 'backfill'
        WHEN selection LIKE 'observe %' THEN 'observe'
        WHEN selection LIKE 'assay check %' THEN 'check'
        ELSE 'materialize' END;
    ALTER TABLE steps ADD COLUMN error_type VARCHAR;  -- the exception user code raised
    ALTER TABLE steps ADD COLUMN error_location VARCHAR;  -- file:line in the user's code
    """,
    # 9: the key a run was launched under, and what it covered
    """
    ALTER TABLE runs ADD COLUMN run_key VARCHAR;  -- schedule:NAME:<tick>, sensor:..., --run-key
    ALTER TABLE runs ADD COLUMN targets VARCHAR;  -- JSON: asset key -> key ranges (or null)
    """,
    # 10: what each code version was made of; the version of the check that judged
    """
    ALTER TABLE materializations ADD COLUMN code_parts VARCHAR;  -- JSON: part -> digest
    ALTER TABLE check_results ADD COLUMN check_version VARCHAR;
    """,
    # 11: what runs by itself: schedule and sensor ticks, requested runs, enabled or not
    """
    CREATE TABLE ticks (
        tick_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        kind VARCHAR,
        tick_at TIMESTAMPTZ,
        evaluated_at TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        reason VARCHAR,
        cursor VARCHAR,
        requests VARCHAR,
        session VARCHAR,
        seq BIGINT
    );
    CREATE INDEX ticks_by_name ON ticks (name, seq);
    CREATE TABLE run_requests (
        run_id VARCHAR PRIMARY KEY,
        run_key VARCHAR NOT NULL,
        name VARCHAR,
        tick_id VARCHAR,
        status VARCHAR NOT NULL,
        reason VARCHAR,
        command VARCHAR,
        priority BIGINT,
        pid BIGINT,
        "at" TIMESTAMPTZ,
        seq BIGINT
    );
    CREATE TABLE automation_states (
        name VARCHAR PRIMARY KEY,
        kind VARCHAR,
        enabled BOOLEAN NOT NULL,
        "at" TIMESTAMPTZ,
        seq BIGINT
    );
    """,
    # 12: alert deliveries: each event for each target, pending, then every attempt
    """
    CREATE TABLE alert_deliveries (
        event_key VARCHAR NOT NULL,  -- what de-duplicates it: run_failed:<run id>, ...
        target VARCHAR NOT NULL,  -- the target's name: never its URL, nor any secret
        target_kind VARCHAR,  -- webhook, slack, email
        event_kind VARCHAR NOT NULL,  -- run_failed, check_failed, ..., test
        status VARCHAR NOT NULL,  -- pending (before the first attempt), sent, failed
        attempt INTEGER,  -- 0 for pending, then 1, 2, ...
        recorded_at TIMESTAMPTZ NOT NULL,
        run_id VARCHAR,  -- the run it is about, if any
        subject VARCHAR,
        error VARCHAR,  -- why the attempt failed
        event VARCHAR  -- JSON, on the pending record: what `assay alerts send` delivers
    );
    """,
    # 13: the bulky JSON of lineage events and check metadata compressed with zstd (a
    # year of daily runs: 9 MB of events in 1.5 MB). Tables are made anew to set a
    # column's compression; the space of the old ones is given back by a compaction
    # (`assay state prune`) or a rebuild.
    """
    CREATE TABLE lineage_events_zstd (
        event_id VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL,
        event_time TIMESTAMPTZ NOT NULL,
        kind VARCHAR NOT NULL,
        ol_run_id VARCHAR,
        job_namespace VARCHAR,
        job_name VARCHAR,
        asset_key VARCHAR,
        partition_key VARCHAR,
        parent_run_id VARCHAR,
        inputs STRUCT(
            namespace VARCHAR, name VARCHAR, asset_key VARCHAR, version VARCHAR,
            partitions VARCHAR
        )[],
        outputs STRUCT(
            namespace VARCHAR, name VARCHAR, asset_key VARCHAR, version VARCHAR,
            partitions VARCHAR
        )[],
        event VARCHAR NOT NULL USING COMPRESSION zstd  -- compact (`lineage.compact`)
    );
    INSERT INTO lineage_events_zstd SELECT * FROM lineage_events;
    DROP TABLE lineage_events;  -- the views find the new one by name
    ALTER TABLE lineage_events_zstd RENAME TO lineage_events;
    CREATE TABLE check_results_zstd (
        check_result_id VARCHAR PRIMARY KEY,
        run_id VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR,
        check_name VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        passed BOOLEAN NOT NULL,
        severity VARCHAR NOT NULL,
        blocking BOOLEAN NOT NULL,
        description VARCHAR,
        metadata VARCHAR USING COMPRESSION zstd,
        error VARCHAR,
        failures_path VARCHAR,
        materialization_id VARCHAR,
        data_version VARCHAR,
        checked_at TIMESTAMPTZ NOT NULL,
        seq BIGINT,
        check_version VARCHAR
    );
    INSERT INTO check_results_zstd SELECT * FROM check_results;
    DROP INDEX check_results_asset;
    DROP TABLE check_results;
    ALTER TABLE check_results_zstd RENAME TO check_results;
    CREATE INDEX check_results_asset ON check_results (asset_key, check_name, partition_key);
    """,
    # 14: declarative automation: when each asset's condition was first seen, and what
    # each part of it held for at each evaluation
    """
    CREATE TABLE automation_assets (
        asset_key VARCHAR PRIMARY KEY,
        condition VARCHAR,  -- the condition's fingerprint (a changed condition starts afresh)
        code VARCHAR,  -- the code version and dependencies it was seen with
        since BIGINT,  -- epoch µs on the evaluation's clock: earlier windows and ticks are history
        since_seq BIGINT,  -- the same on the state's clock: earlier changes are history
        code_since BIGINT,  -- the state's clock when that code version was first seen
        crons VARCHAR,  -- JSON: [[cron, timezone, tick, seen, done], ...]
        had_history BOOLEAN,
        "at" TIMESTAMPTZ,
        seq BIGINT
    );
    CREATE TABLE automation_evaluations (
        tick_id VARCHAR NOT NULL,
        asset_key VARCHAR NOT NULL,
        requested VARCHAR,  -- the partitions requested, folded ('' unpartitioned)
        requested_count BIGINT,
        counts VARCHAR,  -- JSON: [[part, partitions it held for], ...], depth first
        capped BIGINT,  -- left for later ticks by the cap
        history BIGINT,  -- stale partitions whose cause predates the condition
        evaluated_at TIMESTAMPTZ,
        seq BIGINT,
        PRIMARY KEY (tick_id, asset_key)
    );
    CREATE INDEX automation_evaluations_asset ON automation_evaluations (asset_key, seq);
    """,
    # 15: run configuration: what each materialization, run and backfill was given
    """
    ALTER TABLE materializations ADD COLUMN config VARCHAR;  -- JSON: the asset's values
    ALTER TABLE runs ADD COLUMN config VARCHAR;  -- JSON: asset -> values, of its targets
    ALTER TABLE backfills ADD COLUMN config VARCHAR;  -- JSON: the same, for every run of it
    """,
    # 16: keys added to and removed from dynamic partitions, in the order they happened
    """
    CREATE TABLE partition_key_changes (
        change_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,  -- the DynamicPartitions' name
        partition_key VARCHAR NOT NULL,
        is_added BOOLEAN NOT NULL,  -- false: removed
        "at" TIMESTAMPTZ,
        seq BIGINT NOT NULL
    );
    CREATE INDEX partition_key_changes_name ON partition_key_changes (name, partition_key);
    """,
    # 17: where the planning snapshot stands (`state.snapshot`): every pass that writes
    # asset_partitions counts one and marks the rows it wrote with its number; the
    # store's id tells two stores apart (a template's copies share none: it is made on
    # the first pass that writes a row)
    """
    ALTER TABLE asset_partitions ADD COLUMN index_pass BIGINT DEFAULT 0;
    CREATE TABLE store_passes (store_id VARCHAR, passes BIGINT NOT NULL);
    INSERT INTO store_passes
    SELECT CASE WHEN (SELECT count(*) FROM asset_partitions) > 0
                THEN gen_random_uuid()::VARCHAR END, 0;
    """,
    # 18: the latest attempt of each asset partition (`indexer.update_attempts`), kept
    # as steps are indexed: automation reads one row per partition, not every step ever
    # recorded; `seq` numbers each write, so a tick reads what moved since the last
    """
    CREATE SEQUENCE partition_attempts_seq;
    CREATE TABLE partition_attempts (
        asset_key VARCHAR NOT NULL,
        partition_key VARCHAR NOT NULL,  -- '' unpartitioned
        run_id VARCHAR NOT NULL,
        step_key VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (asset_key, partition_key)
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
_REDERIVE = frozenset({7})  # migrations after which asset_partitions is derived anew
_ATTEMPTS_FROM = 18  # the migration after which partition_attempts is derived from steps


_COUNTED_FROM = 17  # asset_partitions.index_pass and store_passes exist from this version


def _rederive_current(con: duckdb.DuckDBPyConnection, version: int) -> None:
    update_current(con, None, counted=version >= _COUNTED_FROM)


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
    if found == 0 and SCHEMA_VERSION > 0:  # a new file: the whole chain in one transaction
        con.execute("BEGIN")
        for version in range(1, SCHEMA_VERSION + 1):
            con.execute(MIGRATIONS[version - 1])
        con.execute(
            "INSERT INTO schema_version SELECT range FROM range(1, ?)", [SCHEMA_VERSION + 1]
        )
        con.execute("COMMIT")
        return found
    if found < SCHEMA_VERSION:  # once per upgrade of assay; says why a command waits
        _log.warning(
            "upgrading the state store from schema version %d to %d, once: on a store "
            "of ten million steps this takes about a minute",
            found,
            SCHEMA_VERSION,
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN")
        con.execute(MIGRATIONS[version - 1])
        if version in _REDERIVE:
            _rederive_current(con, version)
        if version == _ATTEMPTS_FROM:
            update_attempts(con, None)
        con.execute("INSERT INTO schema_version VALUES (?)", [version])
        con.execute("COMMIT")
    return found
