"""A plan as JSON (`assay plan --json`) and back (`assay materialize --plan FILE`).

The JSON names partitions by key ranges, never by index, says when it was made
(`now`, for time partitions) and what it was made against (the state mark and
the code fingerprint), so that applying it later runs exactly those asset
partitions, or is refused once the state or the code moved.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assay.errors import PlanError
from assay.keys import AssetKey
from assay.partitions.base import PartitionContext
from assay.partitions.keysets import DynamicKeys
from assay.partitions.selection import PartitionSelection
from assay.partitions.subset import PartitionSubset
from assay.planning.plan import Plan, PlannedStep
from assay.planning.staleness import StaleKind, StaleReason
from assay.run_config import canonical_json
from assay.state.models import StateMark

if TYPE_CHECKING:
    from assay.graph import AssetGraph

FORMAT = 1


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan, JSON-ready: its steps (as `to_dicts` gives them, with key ranges) and
    what applying it needs."""
    steps = plan.to_dicts()
    for entry, step in zip(steps, plan.steps, strict=True):
        entry["ranges"] = (
            None
            if step.definition is None or step.partitions is None
            else [
                [step.definition.key(a), step.definition.key(b - 1)]
                for a, b in step.partitions.ranges
            ]
        )
    chosen = plan.partitions or PartitionSelection()
    return {
        "format": FORMAT,
        "selection": plan.selection,
        "partitions": {"keys": list(chosen.keys), "first": chosen.first, "last": chosen.last},
        "force": plan.force,
        "now": plan.now.isoformat(),
        # the keys of dynamic partitions the plan saw: its ranges are of those keys
        "dynamic": None if plan.context.dynamic is None else plan.context.dynamic.as_dict(),
        "state": None if plan.mark is None else {"seq": plan.mark.seq, "rows": plan.mark.rows},
        "code": plan.code,
        "scope": [str(k) for k in plan.scope],
        "config": {key: json.loads(text) for key, text in plan.config.items()},
        "steps": steps,
        "partition_count": plan.partition_count,
    }


def plan_from_json(data: Any, graph: AssetGraph, *, source: str = "the plan") -> Plan:
    """A plan read back from its JSON.

    Raises:
        PlanError: it is not a plan assay wrote, or it names assets or partitions
            the project no longer has.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT or "steps" not in data:
        raise PlanError(
            f"{source} is not a plan written by `assay plan --json` (format {FORMAT}): "
            "write one with `assay plan --json > plan.json`"
        )
    try:
        dynamic = data.get("dynamic")
        context = PartitionContext.at(
            datetime.fromisoformat(data["now"]),
            None if dynamic is None else DynamicKeys({str(k): v for k, v in dynamic.items()}),
        )
        steps = tuple(_step(entry, graph, context) for entry in data["steps"])
        scope = tuple(AssetKey.parse(k) for k in data.get("scope", ()))
        chosen = data.get("partitions") or {}
        partitions = PartitionSelection(
            keys=tuple(chosen.get("keys") or ()), first=chosen.get("first"), last=chosen.get("last")
        )
    except PlanError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(
            f"{source} is malformed ({type(exc).__name__}: {exc}): plan again"
        ) from None
    state = data.get("state")
    return Plan(
        steps=steps,
        context=context,
        staleness={},
        selection=str(data.get("selection", "*")),
        partitions=partitions,
        force=bool(data.get("force")),
        mark=None if state is None else StateMark(seq=int(state["seq"]), rows=int(state["rows"])),
        code=str(data.get("code", "")),
        config={
            str(key): canonical_json(values) for key, values in (data.get("config") or {}).items()
        },
        scope=scope,
    )


def _step(entry: dict[str, Any], graph: AssetGraph, context: PartitionContext) -> PlannedStep:
    key = AssetKey.parse(entry["asset"])
    spec = graph.specs.get(key)
    if spec is None:
        raise PlanError(
            f"the plan names asset {str(key)!r}, which the project no longer has: plan again"
        )
    definition = spec.partitions
    subset = None
    if definition is not None:
        ranges = entry.get("ranges")
        if ranges is None:
            raise PlanError(
                f"the plan has no partitions for partitioned asset {str(key)!r}: plan again"
            )
        subset = PartitionSubset(
            tuple(
                (definition.index(first, context), definition.index(last, context) + 1)
                for first, last in ranges
            )
        )
    whole = subset or PartitionSubset.from_range(0, 1)
    reasons = tuple(
        StaleReason(
            kind=StaleKind(detail["kind"]),
            partitions=whole,
            upstream=None if detail.get("upstream") is None else AssetKey.parse(detail["upstream"]),
            old=detail.get("old"),
            new=detail.get("new"),
        )
        for detail in entry.get("details", ())
    )
    return PlannedStep(key=key, partitions=subset, reasons=reasons, definition=definition)
