#!/usr/bin/env bash
# The example shop end to end; `make demo` runs this with .venv/bin on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
export ASSAY_HOME="${ASSAY_HOME:-$PWD/.assay-demo}"
export SHOP_LANDING="${SHOP_LANDING:-$ASSAY_HOME/landing}"
rm -rf "$ASSAY_HOME"

# Bold headings on a terminal only (never escape codes in a log), as assay itself:
# NO_COLOR turns them off, FORCE_COLOR on.
if [ -z "${NO_COLOR:-}" ] && { [ -t 1 ] || [ -n "${FORCE_COLOR:-}" ]; }; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  step() { printf '\n==> %s\n' "$*"; }
fi

step "The shop exports a CSV of orders per day into $SHOP_LANDING (generated, deterministic)"
python -m assets_example.generate
ls "$SHOP_LANDING" | head -3

step "The assets of the example shop (assets_example/shop.py): groups, upstream, checks"
assay list

step "assay observe: record the version of each export file (the source assets)"
assay observe | tail -1

step "assay plan: what is stale, and why (nothing was ever materialized)"
assay plan

step "Backfill January and February: 242 asset partitions, resumable if interrupted"
assay backfill start --from 2024-01-01 --to 2024-02-29

step "assay check: schemas and checks against what is stored (as CI would run it), per asset"
assay check

step "Nothing changed, so the plan is empty"
assay plan

step "The shop re-exports 2024-02-10 with corrections; observe notices the new file"
python -m assets_example.generate --day 2024-02-10 --bump
assay observe | tail -1

step "Now exactly that day is stale, with what reads it (7 rolling days, lifetime value)"
assay plan

step "Materialize just that"
assay materialize

step "Where customer_lifetime_value comes from: the lineage recorded as OpenLineage events"
assay lineage customer_lifetime_value --upstream

step "The runs, recorded in $ASSAY_HOME/assay.duckdb"
assay runs --limit 5

step "Daily revenue in the DuckDB warehouse"
python - <<PY
import duckdb
con = duckdb.connect("$ASSAY_HOME/warehouse.duckdb", read_only=True)
print(con.sql("SELECT * FROM main.daily_revenue ORDER BY order_date LIMIT 5"))
con.close()
PY
