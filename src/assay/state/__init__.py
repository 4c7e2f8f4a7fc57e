"""The state store: append-only run journals, indexed into DuckDB in batches."""
