"""Lineage: OpenLineage events for every step, check and run, stored in DuckDB.

`assay.lineage.open()` returns a `Lineage` whose methods give polars frames:
`upstream`, `downstream`, `runs`, `versions`, `checks`, `events`, `sql`.
Building (`events`) and sending (`delivery`) import openlineage only when used;
a run, which builds and journals events, does not import the explorer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.lineage.explore import Edge, Lineage, open

__all__ = ["Edge", "Lineage", "open"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from assay.lineage import explore

        return getattr(explore, name)
    raise AttributeError(f"module 'assay.lineage' has no attribute {name!r}")
