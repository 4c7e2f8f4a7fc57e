"""`explain`: why one asset partition is stale, traced back to root causes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import PartitionKeyError
from assay.partitions.subset import PartitionSubset
from assay.planning.plan import describe_reason
from assay.planning.staleness import StaleKind
from assay.versioning import code_parts, describe_changes

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.planning.plan import Plan

    StoredParts = Callable[[AssetKey, str], Mapping[str, str] | None]

MAX_PARTITIONS_SHOWN = 3
ROOT_KINDS = frozenset(
    {
        StaleKind.MISSING,
        StaleKind.CODE_CHANGED,
        StaleKind.DEPS_CHANGED,
        StaleKind.INPUT_CHANGED,
        StaleKind.SOURCE_CHANGED,
        StaleKind.PARTITIONS_REMOVED,
        StaleKind.DATA_MISSING,
    }
)
TRACED_KINDS = frozenset({StaleKind.UPSTREAM_STALE, StaleKind.WAITING})


def explain(
    graph: AssetGraph,
    plan: Plan,
    key: AssetKey,
    partition: str | None,
    stored: dict[str, Any],
    stored_parts: StoredParts | None = None,
) -> dict[str, Any]:
    """A JSON-ready explanation with a `text` rendering. `stored_parts` reads what the
    code version of a stored asset partition was made of, so that a changed code
    version says which part changed (`helper `clean` in shop/util.py changed`).

    Raises:
        PartitionKeyError: the partition is missing for a partitioned asset, or invalid.
    """
    definition = graph.specs[key].partitions
    if definition is None and partition is not None:
        raise PartitionKeyError(f"{key} is not partitioned: leave out --partition")
    if definition is not None and partition is None:
        valid = definition.fold(PartitionSubset.from_range(0, definition.size(plan.context)))
        raise PartitionKeyError(
            f"{key} is partitioned: give --partition KEY (valid keys are {valid})"
        )
    index = 0 if definition is None else definition.index(partition, plan.context)  # type: ignore[arg-type]
    node = _node(graph, plan, key, index, depth=0, stored_parts=stored_parts)
    roots: list[str] = []
    _collect_roots(node, roots)
    lines = _render(node, indent=0)
    if stored:
        lines.append(
            f"stored: data version {stored.get('data_version')}, code version "
            f"{stored.get('code_version')}, materialized {stored.get('finished_at')} "
            f"(run {str(stored.get('run_id'))[:8]})"
        )
    else:
        lines.append("stored: never materialized")
    return {
        "asset": str(key),
        "partition": partition,
        "state": node["state"],
        "reasons": node["reasons"],
        "root_causes": roots,
        "stored": {k: str(v) for k, v in stored.items()},
        "text": "\n".join(lines),
    }


def _node(
    graph: AssetGraph,
    plan: Plan,
    key: AssetKey,
    index: int,
    depth: int,
    stored_parts: StoredParts | None = None,
) -> dict[str, Any]:
    staleness = plan.staleness[key]
    definition = graph.specs[key].partitions
    label = str(key) if definition is None else f"{key} [{definition.key(index)}]"
    is_stale = bool(staleness.stale[index])
    is_waiting = bool(staleness.waiting[index])
    reasons = []
    for reason in staleness.reasons:
        if index not in reason.partitions:
            continue
        entry: dict[str, Any] = {"kind": reason.kind.value, "description": describe_reason(reason)}
        if reason.kind in ROOT_KINDS or (
            reason.kind is StaleKind.WAITING and reason.upstream is None
        ):
            entry["root_cause"] = True
        if reason.kind is StaleKind.CODE_CHANGED and stored_parts is not None:
            old = stored_parts(key, "" if definition is None else definition.key(index))
            if old is not None:
                entry["changes"] = describe_changes(old, code_parts(graph.specs[key]))
        if reason.kind in TRACED_KINDS and reason.upstream is not None and depth < 20:
            up = reason.upstream
            reads = graph.mappings[key][up].upstream_for(
                index, graph.specs[up].partitions, definition, plan.context
            )
            traced = plan.staleness[up]
            mask = traced.stale if reason.kind is StaleKind.UPSTREAM_STALE else traced.waiting
            stale_reads = [i for i in reads if mask[i]]
            entry["upstream"] = [
                _node(graph, plan, up, i, depth + 1, stored_parts)
                for i in stale_reads[:MAX_PARTITIONS_SHOWN]
            ]
            entry["more"] = max(len(stale_reads) - MAX_PARTITIONS_SHOWN, 0)
        reasons.append(entry)
    if graph.specs[key].is_source:
        state = next((r.new for r in staleness.reasons if index in r.partitions), "observed")
    elif is_waiting:
        state = "waiting for source"
    elif not is_stale:
        state = "fresh"
    else:
        state = "missing" if any(r["kind"] == "missing" for r in reasons) else "stale"
    return {"label": label, "state": state, "reasons": reasons}


def _collect_roots(node: dict[str, Any], roots: list[str]) -> None:
    for reason in node["reasons"]:
        if reason.get("root_cause"):
            text = f"{node['label']}: {reason['description']}"
            if text not in roots:
                roots.append(text)
        for child in reason.get("upstream", ()):
            _collect_roots(child, roots)


def _render(node: dict[str, Any], indent: int) -> list[str]:
    pad = "  " * indent
    lines = [f"{pad}{node['label']}: {node['state']}"]
    for reason in node["reasons"]:
        mark = "  (root cause)" if reason.get("root_cause") else ""
        lines.append(f"{pad}  {reason['description']}{mark}")
        lines.extend(f"{pad}    {change}" for change in reason.get("changes", ()))
        for child in reason.get("upstream", ()):
            lines.extend(_render(child, indent + 2))
        if reason.get("more"):
            lines.append(f"{pad}    … and {reason['more']} more partitions")
    return lines
