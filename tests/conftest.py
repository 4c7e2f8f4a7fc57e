"""Fixtures: a temporary project built from a module in tests/projects/."""

from __future__ import annotations

import compileall
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

PROJECTS = Path(__file__).parent / "projects"
ASSAY = Path(sys.executable).parent / "assay"

ProjectFactory = Callable[..., Path]
REPO = Path(__file__).resolve().parents[1]
SOURCE = [REPO / "src", REPO / "assets_example"]  # what the e2e processes import


def pytest_configure(config: pytest.Config) -> None:
    """Compile assay's own modules (and the example's) once, before any test starts a process.

    With PYTHONDONTWRITEBYTECODE set (as on this project's machines) nothing ever
    writes the editable install's bytecode, so every `assay` process, launched run
    and worker would compile all of assay from source again (~0.3 s CPU each).
    compileall writes the cache whatever that setting says; processes only read it.
    """
    if not hasattr(config, "workerinput"):  # once, in the controller (or a plain run)
        for folder in SOURCE:
            compileall.compile_dir(folder, quiet=1, workers=1)


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProjectFactory]:
    """Make `tmp_path/<name>` a project whose module is a copy of tests/projects/<name>.py.

    The module is copied under a name unique to the test, so modules cached by
    earlier tests never leak in. The working directory becomes the project.
    """
    for variable in ("ASSAY_MODULE", "ASSAY_HOME", "ASSAY_DEBUG", "ASSAY_LINEAGE"):
        monkeypatch.delenv(variable, raising=False)
    for variable in list(os.environ):  # no test sends lineage anywhere unless it asks to
        if variable.startswith("OPENLINEAGE"):
            monkeypatch.delenv(variable)
    made: list[str] = []

    def make(name: str, *, extra_toml: str = "", chdir: bool = True) -> Path:
        root = tmp_path / name
        root.mkdir()
        module = f"{name}_{len(made)}_{abs(hash(str(tmp_path))) % 10**8}"
        shutil.copy(PROJECTS / f"{name}.py", root / f"{module}.py")
        (root / "pyproject.toml").write_text(
            f'[project]\nname = "{name}-project"\n\n[tool.assay]\nmodule = "{module}"\n{extra_toml}'
        )
        made.append(module)
        if chdir:
            monkeypatch.chdir(root)
        return root

    yield make
    for module in made:
        sys.modules.pop(module, None)
        while str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


@pytest.fixture
def project_dir(make_project: ProjectFactory) -> Path:
    """The diamond project, with the working directory in it."""
    return make_project("diamond")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess run of `assay`, without inherited assay settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "OPENLINEAGE"))}
    env.update(extra)
    return env


def cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`assay ARGS` run in this process, in `root` and with clean_env(**env), giving
    what `subprocess.run` would: for the commands of e2e tests whose own process adds
    nothing the test checks (no kill, no lock or race between processes, no start-up).

    Saves each call the ~1 s of CPU a new process spends importing Python, polars and
    DuckDB. An unexpected exception is raised, where a process would print it and
    exit 1.
    """
    unset: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("ASSAY_", "OPENLINEAGE"))
    }
    for entry in {str(root), str(root.resolve())}:  # first on the path, as in a new process
        while entry in sys.path:
            sys.path.remove(entry)
    with contextlib.chdir(root):
        from assay.cli.main import main

        result = CliRunner(env={**unset, **env}).invoke(
            main, list(args), prog_name="assay", catch_exceptions=False
        )
    return subprocess.CompletedProcess(
        ["assay", *args], result.exit_code, result.stdout, result.stderr
    )


def wait_for(predicate: Callable[[], object], timeout_s: float = 30.0) -> None:
    """Poll `predicate` until it is true; fail the test after `timeout_s`.

    Polls every 20 ms at first, then less often (up to every 0.2 s): a condition
    that comes at once is seen at once, and a long wait (for runs to end, say) does
    not spend a core on the polling the runs need.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.02
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(pause)
        pause = min(pause * 1.5, 0.2)
    raise AssertionError("condition not reached in time")
