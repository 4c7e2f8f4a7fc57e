"""Where a project's settings come from: options, then ASSAY_* variables, then
[tool.assay]; bad values are named with where they came from."""

import re

import pytest

import assay
from assay.config import resolve_config
from assay.errors import ConfigError


def configure(tmp_path, toml: str):
    (tmp_path / "pyproject.toml").write_text(f"[tool.assay]\n{toml}")
    return resolve_config(cwd=tmp_path)


def test_executor_settings_come_from_pyproject_then_the_environment(tmp_path, monkeypatch):
    config = configure(tmp_path, 'executor = "dask"\nworkers = 3\ndask_address = "tcp://h:8786"\n')
    assert (config.executor, config.workers, config.dask_address) == ("dask", 3, "tcp://h:8786")
    monkeypatch.setenv("ASSAY_EXECUTOR", "multiprocess")
    monkeypatch.setenv("ASSAY_WORKERS", "5")
    monkeypatch.setenv("ASSAY_DASK_ADDRESS", "tcp://other:8786")
    config = resolve_config(cwd=tmp_path)
    assert (config.executor, config.workers, config.dask_address) == (
        "multiprocess",
        5,
        "tcp://other:8786",
    )


def test_without_settings_runs_are_in_process(tmp_path):
    config = configure(tmp_path, "")
    assert (config.executor, config.workers, config.dask_address) == (None, None, None)
    assert config.storage_root == config.home / "storage"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ('executor = "spark"', {}, "[tool.assay] executor = 'spark': use one of in_process"),
        ("", {"ASSAY_EXECUTOR": "ray"}, "ASSAY_EXECUTOR = 'ray': use one of in_process"),
        ("workers = 0", {}, "[tool.assay] workers in"),
        ('workers = "2"', {}, "must be a whole number, at least 1; got '2'"),
        ("", {"ASSAY_WORKERS": "two"}, "ASSAY_WORKERS='two': give a whole number"),
        ('storage_options = "x"', {}, "as in [tool.assay.storage_options]"),
        ("storage = 3", {}, "[tool.assay] storage in"),
        ('retention = "a month"', {}, "retention in "),
        ("retention = 30", {}, "= '30': give a duration such as 30d, 12w or 48h"),
        ("", {"ASSAY_RETENTION": "0d"}, "ASSAY_RETENTION = '0d': give a duration"),
    ],
)
def test_bad_settings_say_where_they_are(tmp_path, monkeypatch, toml, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        configure(tmp_path, toml)
    assert message in str(raised.value)


def test_storage_is_a_folder_or_a_url(tmp_path, monkeypatch):
    assert configure(tmp_path, 'storage = "lake"').storage_root == tmp_path / "lake"
    assert configure(tmp_path, 'storage = "s3://b/p"').storage_root == "s3://b/p"
    monkeypatch.setenv("ASSAY_STORAGE", "/data/lake")
    assert configure(tmp_path, 'storage = "s3://b/p"').storage_root.as_posix() == "/data/lake"


def test_an_unknown_executor_from_python_is_a_config_error(make_project):
    make_project("diamond")
    with pytest.raises(ConfigError, match="unknown executor 'threads': use one of"):
        assay.load().materialize(executor="threads")


def test_alert_delivery_settings_come_from_their_own_table(tmp_path):
    from assay.config import AlertSettings

    assert configure(tmp_path, "").alerts == AlertSettings()
    config = configure(tmp_path, "[tool.assay.alerts]\nattempts = 5\nbudget_s = 2.5\n")
    assert config.alerts == AlertSettings(attempts=5, timeout_s=3.0, backoff_s=0.5, budget_s=2.5)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("attempt = 3", "has no setting 'attempt': use attempts, timeout_s, backoff_s, budget_s"),
        ("attempts = 0", "attempts = 0; give a whole number, 1 to 20"),
        ("attempts = true", "attempts = True; give a whole number"),
        ('timeout_s = "3s"', "timeout_s = '3s'; give seconds, more than 0"),
        ("budget_s = 0", "budget_s = 0; give seconds, more than 0"),
    ],
    ids=lambda value: value if "=" in value and "give" not in value else "",
)
def test_bad_alert_settings_say_which_and_how(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        configure(tmp_path, f"[tool.assay.alerts]\n{toml}\n")


def test_retention_is_a_duration_from_pyproject_or_the_environment(tmp_path, monkeypatch):
    assert configure(tmp_path, "").retention_s is None  # by default nothing is pruned
    assert configure(tmp_path, 'retention = "30d"').retention_s == 30 * 86_400
    monkeypatch.setenv("ASSAY_RETENTION", "12h")
    assert configure(tmp_path, 'retention = "30d"').retention_s == 12 * 3_600
