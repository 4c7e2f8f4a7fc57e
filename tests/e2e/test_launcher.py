"""Runs launched detached: the run id at once, then wait, follow, cancel; the run is an
ordinary recorded run of its own process."""

import json
import os
import subprocess

import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from assay.results import RunStatus
from tests.conftest import ASSAY, clean_env, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def slow(make_project, monkeypatch):
    monkeypatch.setenv("SLOW_STEP_S", "0.3")
    return make_project("slow")


def test_a_launched_run_returns_its_id_at_once_and_can_be_waited_for(slow):
    launched = assay.load().launch()
    assert launched.pid != os.getpid()
    assert launched.status() in (None, RunStatus.RUNNING)
    assert launched.wait(timeout_s=60) is RunStatus.SUCCEEDED
    runs = json.loads(CliRunner().invoke(main, ["runs", "--json"]).stdout)
    assert runs[0]["run_id"] == launched.run_id
    assert runs[0]["kind"] == "materialize"
    assert runs[0]["pid"] == launched.pid
    assert "Run " in launched.log.read_text()


def test_following_a_launched_run_yields_its_steps_as_they_finish(slow):
    launched = assay.load().launch()
    finished = [
        record["step_key"]
        for record in launched.follow()
        if record["type"] == "step" and record["status"] == "succeeded"
    ]
    assert finished == [f"step_{i:02d}" for i in range(10)]
    assert launched.wait(timeout_s=30) is RunStatus.SUCCEEDED


def test_a_launched_run_can_be_canceled_and_ends_canceled(slow):
    launched = assay.load().launch()
    wait_for(lambda: any(r.get("status") == "succeeded" for r in launched.records()))
    launched.cancel()
    assert launched.wait(timeout_s=60) is RunStatus.CANCELED
    done = [r for r in launched.records() if r["type"] == "step" and r["status"] == "succeeded"]
    assert 1 <= len(done) < 10


def test_runs_cancel_stops_a_run_from_another_process(slow):
    process = subprocess.Popen(
        [str(ASSAY), "materialize"],
        cwd=slow,
        env=clean_env(SLOW_STEP_S="0.3"),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    run_id = first.split()[1]
    canceled = CliRunner().invoke(main, ["runs", "cancel", run_id])
    assert canceled.exit_code == 0, canceled.output
    assert "its running steps finish" in canceled.output
    assert process.wait(timeout=60) == 1
    process.stdout.close()
    runs = json.loads(CliRunner().invoke(main, ["runs", "--json"]).stdout)
    assert runs[0]["status"] == "canceled"
    again = CliRunner().invoke(main, ["runs", "cancel", run_id])
    assert again.exit_code == 2
    assert "is canceled: there is nothing to stop" in again.stderr


def test_materialize_detach_prints_the_run_id_and_returns(slow):
    result = CliRunner().invoke(main, ["materialize", "--detach"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Launched run ")
    run_id = result.output.split("(")[1].split(")")[0]
    wait_for(
        lambda: any(
            r["run_id"] == run_id and r["status"] == "succeeded"
            for r in json.loads(CliRunner().invoke(main, ["runs", "--json"]).stdout)
        ),
        timeout_s=60,
    )


def test_a_launched_plan_that_went_out_of_date_is_refused_in_its_process(slow):
    plan = assay.load().plan("step_00")
    assert assay.load().materialize("step_00").success
    launched = assay.load().launch(plan)
    assert launched.wait(timeout_s=60) is None  # refused before it recorded a run
    assert "the plan is out of date" in launched.log.read_text()
