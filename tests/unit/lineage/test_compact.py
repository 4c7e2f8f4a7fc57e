"""The compact form the state store keeps of each event: everything it leaves out is
rebuilt exactly, the whole event validates, and what assay does not know stays."""

import json

import pytest

from assay.io.base import StoredOutput
from assay.keys import AssetKey
from assay.lineage import compact
from assay.lineage.events import (
    AssetJob,
    DatasetRef,
    RunRef,
    StepLineage,
    check_events,
    observation_event,
    run_event,
    step_abort,
    step_end,
    step_start,
)
from assay.lineage.naming import PROVENANCE_SCHEMA_URL
from assay.results import CheckOutcome, StepError, StepResult, StepStatus
from tests.openlineage_spec import validation_errors

RUN = RunRef(
    run_id="8f1c2f3e-5b6a-4c7d-8e9f-0a1b2c3d4e5f", namespace="shop", name="assay.materialize"
)
JOB = AssetJob(
    namespace="shop",
    asset_key="revenue",
    description="Revenue per day.",
    owners=("ada@shop.example",),
    tags=(("tier", "gold"),),
    group="sales",
    code_version="3",
)
ORDERS = DatasetRef(
    namespace="file",
    name="/data/.assay/storage/orders",
    asset_key="orders",
    version="abc",
    partitions="2024-01-01..2024-01-03 (3)",
    keys=("2024-01-01", "2024-01-02", "2024-01-03"),
)
REVENUE = DatasetRef(
    namespace="file",
    name="/data/.assay/storage/revenue",
    asset_key="revenue",
    partitions="2024-01-03",
    keys=("2024-01-03",),
)
STEP = StepLineage(
    run_id="0b9f7c1e-2d3a-4b5c-9d6e-7f8a9b0c1d2e",
    job=JOB,
    partition="2024-01-03",
    parent=RUN,
    root=RUN,
    inputs=(ORDERS,),
    output=REVENUE,
    provenance=json.dumps(
        {
            "orders": {
                "count": 3,
                "partitions": "2024-01-01..2024-01-03 (3)",
                "unknown": 0,
                "versions": "abc",
            }
        }
    ),
    nominal=("2024-01-03T00:00:00+00:00", "2024-01-04T00:00:00+00:00"),
)


def _result(*, failed: bool = False) -> StepResult:
    stored = StoredOutput(
        location="/data/.assay/storage/revenue/partition=2024-01-03/data.parquet",
        row_count=1,
        byte_size=812,
        data_version="def",
        columns=(("day", "String"), ("revenue", "Float64")),
    )
    return StepResult(
        key=AssetKey.parse("revenue"),
        partition="2024-01-03",
        status=StepStatus.FAILED if failed else StepStatus.SUCCEEDED,
        started_at=1_700_000_000.0,
        finished_at=1_700_000_001.5,
        stored=None if failed else stored,
        failure=StepError(message="ValueError: no", traceback="Traceback ...") if failed else None,
    )


def _events():
    outcomes = [
        CheckOutcome(
            name="schema",
            status="passed",
            severity="error",
            blocking=True,
            metadata={
                "rows": 3,
                "assertions": [
                    {"column": "amount", "assertion": "greater_than(0)", "success": True}
                ],
            },
        ),
        CheckOutcome(name="enough", status="failed", severity="warn", blocking=False),
    ]
    return [
        step_start(STEP, 1_700_000_000.0),
        step_end(STEP, _result()),
        step_end(STEP, _result(failed=True)),
        step_abort(STEP, 1_700_000_002.0, "the run was canceled"),
        *check_events(JOB, REVENUE, "2024-01-03", outcomes, RUN, RUN),
        run_event(RUN, "START", 1_700_000_000.0),
        run_event(RUN, "FAIL", 1_700_000_003.0, error="1 step failed"),
        observation_event(ORDERS, "shop", "2024-01-01", 1_700_000_000.0),
    ]


@pytest.mark.parametrize("event", _events(), ids=lambda e: f"{e.kind}-{e.event_type}")
def test_the_stored_form_gives_back_the_event_exactly(event):
    assert event.stored
    assert len(event.stored) < 0.7 * len(event.json)
    assert compact.full_json(event.stored) == event.json
    assert validation_errors(json.loads(compact.full_json(event.stored))) == []
    assert event.record("run")["event"] == event.stored
    # a whole event is its own full form, and compacting is what the builder stored
    assert compact.full_json(event.json) == event.json
    assert compact.compact_json(event.json) == event.stored


def test_a_check_start_names_the_dataset_and_its_end_carries_the_verdicts():
    start, end = check_events(
        JOB,
        REVENUE,
        "2024-01-03",
        [CheckOutcome(name="enough", status="passed", severity="warn", blocking=False)],
        RUN,
        RUN,
    )
    assert "dataQualityAssertions" not in json.loads(start.json)["inputs"][0]["inputFacets"]
    verdicts = json.loads(end.json)["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    assert [a["name"] for a in verdicts["assertions"]] == ["enough"]


def test_what_assay_does_not_know_is_kept_whole():
    event = json.loads(step_start(STEP, 1_700_000_000.0).json)
    foreign = {"_producer": "https://example.com/other", "_schemaURL": "https://x/y.json", "a": 1}
    unknown = {"_producer": event["producer"], "_schemaURL": "https://x/custom.json", "b": {}}
    source = {
        "_producer": event["producer"],
        "_schemaURL": compact.SCHEMA_URLS[("dataset", "dataSource")],
        "name": "s3",
        "uri": "s3://bucket/revenue",
    }
    event["run"]["facets"]["other"] = foreign
    event["job"]["facets"]["custom"] = unknown
    event["outputs"][0]["facets"]["dataSource"] = source
    event["schemaURL"] = "https://openlineage.io/spec/2-0-1/OpenLineage.json#/$defs/RunEvent"
    stored = compact.compact_event(event)
    assert stored["run"]["facets"]["other"] == foreign
    assert stored["job"]["facets"]["custom"] == unknown
    assert stored["outputs"][0]["facets"]["dataSource"] == {
        "name": "s3",
        "uri": "s3://bucket/revenue",
    }
    assert stored["schemaURL"] == event["schemaURL"]
    assert compact.full_event(stored) == event


def test_the_schema_urls_are_the_clients():
    from openlineage.client import facet_v2 as f

    classes = {
        ("run", "parent"): f.parent_run.ParentRunFacet,
        ("run", "nominalTime"): f.nominal_time_run.NominalTimeRunFacet,
        ("run", "processing_engine"): f.processing_engine_run.ProcessingEngineRunFacet,
        ("run", "errorMessage"): f.error_message_run.ErrorMessageRunFacet,
        ("job", "jobType"): f.job_type_job.JobTypeJobFacet,
        ("job", "documentation"): f.documentation_job.DocumentationJobFacet,
        ("job", "ownership"): f.ownership_job.OwnershipJobFacet,
        ("job", "tags"): f.tags_job.TagsJobFacet,
        ("dataset", "symlinks"): f.symlinks_dataset.SymlinksDatasetFacet,
        ("dataset", "version"): f.dataset_version_dataset.DatasetVersionDatasetFacet,
        ("dataset", "schema"): f.schema_dataset.SchemaDatasetFacet,
        ("dataset", "dataSource"): f.datasource_dataset.DatasourceDatasetFacet,
        ("inputFacets", "subset"): f.base_subset_dataset.InputSubsetInputDatasetFacet,
        ("inputFacets", "dataQualityAssertions"): (
            f.data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet
        ),
        ("outputFacets", "subset"): f.base_subset_dataset.OutputSubsetOutputDatasetFacet,
        ("outputFacets", "outputStatistics"): (
            f.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet
        ),
    }
    urls = {slot: cls._get_schema() for slot, cls in classes.items()}
    assert urls | {("run", "assay_provenance"): PROVENANCE_SCHEMA_URL} == compact.SCHEMA_URLS
