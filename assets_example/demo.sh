#!/usr/bin/env bash
# The example project end to end; `make demo` runs this with .venv/bin on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
export ASSAY_HOME="${ASSAY_HOME:-$PWD/.assay-demo}"
rm -rf "$ASSAY_HOME"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "The assets of the example shop (assets_example/shop.py)"
assay list

step "Their graph, as Mermaid"
assay graph

step "The plan: what is stale, and why (everything is missing)"
assay plan

step "Materialize exactly the plan, in dependency order"
assay materialize

step "Nothing changed, so the plan is empty"
assay plan

step "Force one mart and its upstream assets to run again: +daily_revenue --force"
assay materialize +daily_revenue --force

step "Same data came out (deterministic generation), so nothing downstream is stale"
assay plan

step "The runs recorded in $ASSAY_HOME/assay.duckdb"
assay runs

step "One run in detail: steps, durations and the logs its assets wrote"
assay runs show "$(assay runs --json --limit 1 | python -c 'import json,sys; print(json.load(sys.stdin)[0]["run_id"])')"

step "The list again, now with last materializations"
assay list

step "The outputs: Parquet files and the DuckDB warehouse"
find "$ASSAY_HOME/storage" -name '*.parquet' | sort
python - <<PY
import duckdb
con = duckdb.connect("$ASSAY_HOME/warehouse.duckdb", read_only=True)
print(con.sql("SELECT * FROM main.daily_revenue ORDER BY order_date LIMIT 5"))
con.close()
PY
