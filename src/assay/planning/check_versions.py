"""Checks whose verdicts are out of date: the stored data was judged by another
version of its schema or check (a tightened Pandera schema, a changed threshold),
or not at all (a check added since).

An out-of-date verdict does not make the data stale: the data is what the code
makes, and `assay check` re-judges what is stored without recomputing it. So a
changed schema on a year of daily partitions costs one `assay check`, and only
partitions that then fail need attention (`assay plan` shows failed checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.versioning import check_version, schema_version

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.state.reader import StateReader

SCHEMA_CHECK = "schema"  # an asset's Pandera schema among its checks (as `results` names it)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutOfDateCheck:
    """One check (or schema) of one asset, and how many stored partitions it must
    judge again."""

    asset: AssetKey
    check: str  # `schema` for the asset's Pandera schema
    changed: int  # stored partitions last judged by another version of it
    unjudged: int  # stored partitions it has never judged (it is new)

    @property
    def count(self) -> int:
        return self.changed + self.unjudged

    def describe(self) -> str:
        """`schema changed since 365 stored partitions were judged`."""
        what = "schema" if self.check == SCHEMA_CHECK else f"check {self.check}"
        parts = []
        if self.changed:
            parts.append(f"{what} changed since {_count(self.changed)} were judged")
        if self.unjudged:
            parts.append(f"{what} never judged {_count(self.unjudged)}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset": str(self.asset),
            "check": self.check,
            "changed": self.changed,
            "unjudged": self.unjudged,
            "description": self.describe(),
        }


def out_of_date_checks(
    graph: AssetGraph, state: StateReader, keys: Sequence[AssetKey]
) -> list[OutOfDateCheck]:
    """The checks of `keys` whose latest verdicts on stored partitions are out of date."""
    current: dict[tuple[str, str], str] = {}
    for key in keys:
        spec = graph.specs[key]
        if spec.schema is not None:
            current[(str(key), SCHEMA_CHECK)] = schema_version(spec.schema)
        for declared in graph.checks.get(key, ()):
            current[(str(key), declared.name)] = check_version(declared)
    if not current:
        return []
    assets = sorted({asset for asset, _ in current})
    stored = state.stored_counts(assets)
    judged: dict[tuple[str, str], list[int]] = {}  # [by this version, by another]
    for row in state.judged_versions(assets):
        which = (row["asset_key"], row["check_name"])
        if which in current:
            counts = judged.setdefault(which, [0, 0])
            counts[row["check_version"] != current[which]] += int(row["partitions"])
    found = []
    by_name = {str(key): key for key in keys}
    for asset, name in sorted(current):
        same, other = judged.get((asset, name), [0, 0])
        unjudged = max(stored.get(asset, 0) - same - other, 0)
        if other or unjudged:
            found.append(
                OutOfDateCheck(asset=by_name[asset], check=name, changed=other, unjudged=unjudged)
            )
    return found


def _count(n: int) -> str:
    return f"{n} stored partition{'s' * (n != 1)}"
