"""OpenLineage events for assay's runs, steps and checks.

Every event is built as plain dicts in the form the state store keeps
(`facets`, `compact`) and kept as that JSON text plus the few columns the lineage
store is queried by (`LineageEvent`); its whole form is rebuilt for what sends it.
What the builders need is plain, picklable data
(`naming`: `StepLineage`, `DatasetRef`) and the run's results
(`assay.results`); the coordinator's lineage subscriber
(`execution.lineage_hooks`) builds them as the run goes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assay.lineage.facets import (
    ENGINE_FACET,
    assertion,
    asset_job,
    dataset_event_dict,
    dataset_facets,
    dumps,
    error_facet,
    input_dataset,
    nominal_facet,
    output_dataset,
    parent_facet,
    provenance_facet,
    run_event_dict,
    run_job,
)
from assay.lineage.naming import (
    BACKFILL_JOB,
    CHECK_RUN_JOB,
    CHECKS_SUFFIX,
    LISTED_PARTITIONS,
    OBSERVE_JOB,
    PROVENANCE_FACET,
    RUN_JOB,
    AssetJob,
    DatasetRef,
    LineageEvent,
    RunRef,
    StepLineage,
    backfill_run_id,
    namespace_for,
    new_run_id,
    rfc3339,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.results import CheckOutcome, StepResult

__all__ = [
    "BACKFILL_JOB",
    "CHECKS_SUFFIX",
    "CHECK_RUN_JOB",
    "LISTED_PARTITIONS",
    "OBSERVE_JOB",
    "RUN_JOB",
    "AssetJob",
    "DatasetRef",
    "LineageEvent",
    "RunRef",
    "StepLineage",
    "backfill_run_id",
    "check_events",
    "namespace_for",
    "new_run_id",
    "observation_event",
    "run_event",
    "step_abort",
    "step_end",
    "step_start",
]


# ---- steps ---------------------------------------------------------------------------


def step_start(plan: StepLineage, at: float) -> LineageEvent:
    """The START of one step attempt, with what it will read and write."""
    facets = _step_facets(plan)
    facets["processing_engine"] = ENGINE_FACET
    return _step_event(plan, "START", at, facets, output_dataset(plan.output, plan.job.namespace))


def step_end(plan: StepLineage, result: StepResult) -> LineageEvent:
    """The COMPLETE (or FAIL, with the error) of one step attempt."""
    facets = _step_facets(plan)
    facets[PROVENANCE_FACET] = provenance_facet(plan)
    if result.stored is None:
        error = result.failure
        facets["errorMessage"] = error_facet(
            None if error is None else error.message, None if error is None else error.traceback
        )
        out = output_dataset(plan.output, plan.job.namespace)
        return _step_event(plan, "FAIL", result.finished_at, facets, out)
    output = replace(plan.output, version=result.stored.data_version)
    out = output_dataset(output, plan.job.namespace, result=result)
    return _step_event(plan, "COMPLETE", result.finished_at, facets, out, output=output)


def step_abort(plan: StepLineage, at: float, reason: str) -> LineageEvent:
    """The ABORT of an attempt still running when its run stopped short."""
    facets: dict[str, Any] = {"parent": parent_facet(plan.parent, plan.root)}
    facets["errorMessage"] = error_facet(reason, None)
    return _step_event(plan, "ABORT", at, facets, output_dataset(plan.output, plan.job.namespace))


def _step_facets(plan: StepLineage) -> dict[str, Any]:
    facets: dict[str, Any] = {"parent": parent_facet(plan.parent, plan.root)}
    if plan.nominal:
        facets["nominalTime"] = nominal_facet(plan.nominal)
    return facets


def _step_event(
    plan: StepLineage,
    state: str,
    at: float,
    run_facets: dict[str, Any],
    out: dict[str, Any],
    *,
    output: DatasetRef | None = None,
) -> LineageEvent:
    namespace = plan.job.namespace
    event = run_event_dict(
        state,
        rfc3339(at),
        plan.run_id,
        run_facets,
        asset_job(plan.job, plan.job.asset_key, "ASSET"),
        [input_dataset(d, namespace) for d in plan.inputs],
        [out],
    )
    return LineageEvent(
        event_type=state,
        event_time=at,
        kind="asset",
        stored=dumps(event),
        run_id=plan.run_id,
        job_namespace=namespace,
        job_name=plan.job.asset_key,
        asset_key=plan.job.asset_key,
        partition_key=plan.partition,
        parent_run_id=plan.parent.run_id,
        inputs=plan.inputs,
        outputs=(output or plan.output,),
    )


# ---- checks --------------------------------------------------------------------------


def check_events(
    job: AssetJob,
    dataset: DatasetRef,
    partition: str | None,
    outcomes: Sequence[CheckOutcome],
    parent: RunRef,
    root: RunRef,
) -> list[LineageEvent]:
    """One run of the `<asset>.checks` job: START and COMPLETE, or FAIL when an
    error-severity check failed or errored. Its input is the checked dataset; on
    the COMPLETE (or FAIL) with one `dataQualityAssertions` item per check (per
    column check, for a schema)."""
    if not outcomes:
        return []
    run_id = new_run_id()
    name = job.asset_key + CHECKS_SUFFIX
    started = min(o.checked_at for o in outcomes)
    ended = max(o.checked_at for o in outcomes)
    assertions = [assertion(item) for outcome in outcomes for item in outcome.assertions()]
    judged = input_dataset(dataset, job.namespace, quality=assertions)
    # the START names what is checked; the verdicts are known at the end
    checking = input_dataset(dataset, job.namespace)
    bad = [o for o in outcomes if not o.passed and o.severity == "error"]
    state = "FAIL" if bad else "COMPLETE"
    checks_job = asset_job(job, name, "CHECK")
    parents = parent_facet(parent, root)
    events = []
    for kind, at in (("START", started), (state, ended)):
        facets: dict[str, Any] = {"parent": parents}
        if kind == "FAIL":
            facets["errorMessage"] = error_facet("; ".join(o.describe() for o in bad), None)
        inputs = [checking if kind == "START" else judged]
        event = run_event_dict(kind, rfc3339(at), run_id, facets, checks_job, inputs, [])
        events.append(
            LineageEvent(
                event_type=kind,
                event_time=at,
                kind="check",
                stored=dumps(event),
                run_id=run_id,
                job_namespace=job.namespace,
                job_name=name,
                asset_key=job.asset_key,
                partition_key=partition,
                parent_run_id=parent.run_id,
                inputs=(dataset,),
            )
        )
    return events


# ---- assay runs and observations -----------------------------------------------------


def run_event(
    run: RunRef,
    state: str,
    at: float,
    *,
    parent: RunRef | None = None,
    error: str | None = None,
    job_type: str = "RUN",
) -> LineageEvent:
    """An event of an assay run's own job (its steps' parent)."""
    facets: dict[str, Any] = {}
    if parent is not None:
        facets["parent"] = parent_facet(parent, parent)
    if state == "START":
        facets["processing_engine"] = ENGINE_FACET
    if error:
        facets["errorMessage"] = error_facet(error, None)
    event = run_event_dict(state, rfc3339(at), run.run_id, facets, run_job(run, job_type), [], [])
    return LineageEvent(
        event_type=state,
        event_time=at,
        kind="run",
        stored=dumps(event),
        run_id=run.run_id,
        job_namespace=run.namespace,
        job_name=run.name,
        parent_run_id=None if parent is None else parent.run_id,
    )


def observation_event(
    dataset: DatasetRef, namespace: str, partition: str | None, at: float
) -> LineageEvent:
    """A dataset event for an observed source asset: its new data version."""
    facets = dataset_facets(dataset, namespace)
    event = dataset_event_dict(rfc3339(at), dataset, facets)
    return LineageEvent(
        event_type="DATASET",
        event_time=at,
        kind="observation",
        stored=dumps(event),
        asset_key=dataset.asset_key,
        partition_key=partition,
        outputs=(dataset,),
    )
