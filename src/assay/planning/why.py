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
    from assay.state.models import Step

    StoredParts = Callable[[AssetKey, str], Mapping[str, str] | None]
    LastAttempts = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], Step]]

MAX_PARTITIONS_SHOWN = 3
ROOT_KINDS = frozenset(
    {
        StaleKind.MISSING,
        StaleKind.CODE_CHANGED,
        StaleKind.DEPS_CHANGED,
        StaleKind.CONFIG_CHANGED,
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
    last_attempts: LastAttempts | None = None,
) -> dict[str, Any]:
    """A JSON-ready explanation with a `text` rendering. `stored_parts` reads what the
    code version of a stored asset partition was made of, so that a changed code
    version says which part changed (`helper `clean` in shop/util.py changed`).
    `last_attempts` reads the latest step of asset partitions, so that a partition
    whose last attempt failed (or was skipped) says so, with its error and the run
    that holds its logs.

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
    if last_attempts is not None:
        _attach_attempts(node, last_attempts)
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
        "last_attempt": node.get("last_attempt"),
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
    partition = "" if definition is None else definition.key(index)
    label = str(key) if definition is None else f"{key} [{partition}]"
    is_stale = bool(staleness.stale[index])
    is_waiting = bool(staleness.waiting[index])
    reasons = []
    for reason in staleness.reasons:
        if index not in reason.partitions:
            continue
        # the upstream partitions this one reads, not those behind every stale one
        upstream = plan.upstream_partitions(
            graph, key, reason, PartitionSubset.from_indices([index])
        )
        entry: dict[str, Any] = {
            "kind": reason.kind.value,
            "description": describe_reason(reason, upstream=upstream),
        }
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
    return {
        "asset": str(key),
        "partition": partition or None,
        "label": label,
        "state": state,
        "reasons": reasons,
    }


_ATTEMPTED = ("missing", "stale")  # states where a failed attempt since explains something


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for reason in node["reasons"]:
        for child in reason.get("upstream", ()):
            found += _nodes(child)
    return found


def _attach_attempts(root: dict[str, Any], last_attempts: LastAttempts) -> None:
    """Give each missing or stale node whose latest step did not succeed its
    `last_attempt`: status, run, when, error or skip reason (one read for all)."""
    nodes = [n for n in _nodes(root) if n["state"] in _ATTEMPTED]
    attempts = last_attempts(list(dict.fromkeys((n["asset"], n["partition"] or "") for n in nodes)))
    for node in nodes:
        step = attempts.get((node["asset"], node["partition"] or ""))
        if step is None or step.status == "succeeded":
            continue
        at = step.finished_at or step.started_at
        node["last_attempt"] = {
            "status": step.status,
            "run_id": step.run_id,
            "step": step.step_key,
            "at": None if at is None else at.isoformat(),
            "error": step.error,
            "error_type": step.error_type,
            "error_location": step.error_location,
            "skip_reason": step.skip_reason,
        }


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
    lines += _attempt_lines(node.get("last_attempt"), pad)
    for reason in node["reasons"]:
        mark = "  (root cause)" if reason.get("root_cause") else ""
        lines.append(f"{pad}  {reason['description']}{mark}")
        lines.extend(f"{pad}    {change}" for change in reason.get("changes", ()))
        for child in reason.get("upstream", ()):
            lines.extend(_render(child, indent + 2))
        if reason.get("more"):
            lines.append(f"{pad}    … and {reason['more']} more partitions")
    return lines


def _attempt_lines(attempt: dict[str, Any] | None, pad: str) -> list[str]:
    """`last attempt failed in run 12a84170 at 2024-06-01 10:12:03: ValueError: ...`, and
    where its logs are."""
    if attempt is None:
        return []
    from datetime import datetime

    run = attempt["run_id"][:8]
    at = attempt["at"]
    when = "" if at is None else f" at {datetime.fromisoformat(at).astimezone():%Y-%m-%d %H:%M:%S}"
    detail = attempt["error"] or attempt["skip_reason"]
    lines = [
        f"{pad}  last attempt {attempt['status']} in run {run}{when}"
        + (f": {detail}" if detail else "")
    ]
    if attempt["status"] in ("failed", "died"):
        lines.append(
            f"{pad}    logs and traceback: assay runs show {run} --step '{attempt['step']}'"
        )
    return lines
