"""Lineage: OpenLineage events for every step, check and run, stored in DuckDB.

`assay.lineage.open()` returns a `Lineage` whose methods give polars frames:
`upstream`, `downstream`, `runs`, `versions`, `checks`, `events`, `sql`.
Building (`events`) and sending (`delivery`) import openlineage only when used.
"""

from assay.lineage.explore import Edge, Lineage, open

__all__ = ["Edge", "Lineage", "open"]
