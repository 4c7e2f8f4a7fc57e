"""The SQL the state reader and `assay state prune` share: derived views of the
store's tables, each a query to wrap or join."""

# The latest result of each check on each asset partition.
LATEST_CHECKS = """
    SELECT * FROM check_results
    QUALIFY row_number() OVER (
        PARTITION BY asset_key, check_name, partition_key
        ORDER BY coalesce(seq, epoch_us(checked_at)) DESC, check_result_id DESC
    ) = 1
"""

# The last step of each (backfill, asset, partition) over the backfill's runs.
LATEST_BACKFILL_STEPS = """
    SELECT r.backfill_id, s.asset_key, coalesce(s.partition_key, '') AS partition_key,
           s.status, s.attempts, s.error, s.skip_reason, s.run_id, s.started_at, s.finished_at
    FROM steps s JOIN runs r ON r.run_id = s.run_id
    WHERE r.backfill_id IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY r.backfill_id, s.asset_key, s.partition_key
        ORDER BY s.status = 'succeeded' DESC, s.started_at DESC
    ) = 1
"""


# Every backfill with its status, derived from what is recorded (`StateReader.backfills`),
# its per-status counts and the state of its last run.
BACKFILL_STATES = f"""
    WITH latest AS ({LATEST_BACKFILL_STEPS}), counts AS (
        SELECT backfill_id,
               count(*) FILTER (status = 'succeeded') AS succeeded,
               count(*) FILTER (status = 'failed') AS failed,
               count(*) FILTER (status = 'skipped') AS skipped,
               count(*) FILTER (status IN ('died', 'running')) AS interrupted
        FROM latest GROUP BY backfill_id
    ), cancels AS (
        SELECT backfill_id, arg_max(status, coalesce(seq, 0)) AS status,
               max(coalesce(seq, 0)) AS seq
        FROM backfill_cancels GROUP BY backfill_id
    )
    SELECT b.* EXCLUDE (status),
           CASE WHEN coalesce(c.succeeded, 0) >= b.partition_count THEN 'completed'
                WHEN x.seq > coalesce(b.seq, 0) AND b.status <> 'completed'
                    THEN CASE WHEN r.status = 'running' THEN 'canceling'
                              ELSE 'canceled' END
                WHEN b.status IN ('running', 'canceling') AND r.status = 'died'
                    THEN 'interrupted'
                ELSE b.status END AS status,
           r.status AS last_run_status, r.pid AS last_run_pid, r.host AS last_run_host,
           coalesce(c.succeeded, 0) AS succeeded, coalesce(c.failed, 0) AS failed,
           coalesce(c.skipped, 0) AS skipped
    FROM backfills b
    LEFT JOIN runs r ON r.run_id = b.last_run_id
    LEFT JOIN counts c ON c.backfill_id = b.backfill_id
    LEFT JOIN cancels x ON x.backfill_id = b.backfill_id
"""


# A run page (`{page}`, a query of runs rows) with what its checks and observations
# counted: the joins read only the page's runs.
RUN_COUNTS = """
    WITH page AS ({page}),
    checked AS (
        SELECT run_id, count(*) AS check_count,
               count(*) FILTER (WHERE status = 'passed') AS checks_passed,
               count(*) FILTER (WHERE status = 'failed' AND severity = 'warn') AS checks_warned,
               count(*) FILTER (WHERE status = 'failed' AND severity <> 'warn') AS checks_failed,
               count(*) FILTER (WHERE status = 'errored') AS checks_errored,
               count(DISTINCT (asset_key, coalesce(partition_key, ''))) AS checked_partitions
        FROM check_results WHERE run_id IN (SELECT run_id FROM page) GROUP BY run_id
    ), observed AS (
        SELECT run_id, count(*) AS observation_count,
               count(DISTINCT asset_key) AS observed_assets
        FROM observations WHERE run_id IN (SELECT run_id FROM page) GROUP BY run_id
    )
    SELECT page.*, c.* EXCLUDE (run_id), o.* EXCLUDE (run_id)
    FROM page LEFT JOIN checked c ON c.run_id = page.run_id
    LEFT JOIN observed o ON o.run_id = page.run_id
"""

CHECK_OUTCOME = (
    "CASE WHEN status IN ('passed', 'errored') THEN status "
    "WHEN severity = 'warn' THEN 'warned' ELSE 'failed' END"
)

# The keys of dynamic partitions (`?`: a list of names): each counts from its first
# addition after its last removal, and they come in that order.
DYNAMIC_KEYS = """
    SELECT name, partition_key, removed FROM (
        SELECT name, partition_key, any_value(removed) AS removed,
               min(seq) FILTER (WHERE is_added AND seq > removed) AS added_seq
        FROM (
            SELECT name, partition_key, is_added, seq,
                   coalesce(max(seq) FILTER (WHERE NOT is_added)
                            OVER (PARTITION BY name, partition_key), -1) AS removed
            FROM partition_key_changes WHERE list_contains(?, name)
        )
        GROUP BY name, partition_key
    )
    WHERE added_seq IS NOT NULL
    ORDER BY name, added_seq, partition_key
"""
