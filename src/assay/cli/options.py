"""Options shared by the commands, and loading the project they name."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from assay.errors import PlanError

if TYPE_CHECKING:
    from assay.project import Project

    _IntType = click.ParamType[int, Any]  # generic from click 8.2 on
    _TextType = click.ParamType[str, Any]
else:
    _IntType = _TextType = click.ParamType

F = TypeVar("F", bound=Callable[..., Any])

MAX_LIMIT = 10_000
"""The most rows a `--limit` asks for: beyond that, `--json` and a query serve better."""


class WholeNumber(_IntType):
    """An integer from `low` to `high` (no upper bound when None), with a message
    that gives the range in words: `-1 is out of range: give a whole number from 1
    to 10,000`."""

    name = "integer"

    def __init__(self, low: int = 1, high: int | None = None) -> None:
        self.low = low
        self.high = high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a whole number: give one {self._range()}", param, ctx)
        if number < self.low or (self.high is not None and number > self.high):
            self.fail(f"{number} is out of range: give a whole number {self._range()}", param, ctx)
        return number

    def _range(self) -> str:
        if self.high is None:
            return f"of at least {self.low:,}"
        return f"from {self.low:,} to {self.high:,}"


class _Word(_TextType):
    """A non-blank argument: an empty string (a shell variable that is not set) is an
    error, never "everything" nor a prefix of every id."""

    name = "text"

    def __init__(self, blank: str) -> None:
        self.blank = blank

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not str(value).strip():
            self.fail(f"{value!r} is blank: {self.blank}", param, ctx)
        return str(value)


def selection_argument(fn: F) -> F:
    """`SELECTION...`: dbt-style terms, unioned; none selects everything."""
    blank = "leave it out, or give `*` to select everything"
    return click.argument("selection", nargs=-1, type=_Word(blank))(fn)


RUN_ID = _Word("give a run id (or a prefix of one); `assay runs` lists them")
BACKFILL_ID = _Word("give a backfill id (or a prefix); `assay backfill list` lists them")
ASSET = _Word("give an asset key; `assay list` lists them")


def limit_option(default: int, what: str) -> Callable[[F], F]:
    """`--limit N`: how many rows to show, from 1 to MAX_LIMIT (`what`: "runs to list")."""
    return click.option(
        "--limit",
        type=WholeNumber(1, MAX_LIMIT),
        default=default,
        show_default=True,
        help=f"How many {what} (1 to {MAX_LIMIT:,}).",
    )


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"assay.{param.name}"] = value
    return value


def project_options(fn: F) -> F:
    """`-m/--module`, `-f/--file` and `--home`, kept on the context for `open_project()`."""
    fn = click.option(
        "--home",
        type=click.Path(file_okay=False),
        expose_value=False,
        callback=_remember,
        help="State folder (default: ASSAY_HOME, [tool.assay] home, or .assay).",
    )(fn)
    fn = click.option(
        "-f",
        "--file",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_remember,
        help="Python file defining the assets.",
    )(fn)
    fn = click.option(
        "-m",
        "--module",
        expose_value=False,
        callback=_remember,
        help="Module defining the assets (default: ASSAY_MODULE or [tool.assay] module).",
    )(fn)
    return fn


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        fn
    )


def open_project() -> Project:
    """Load the project named by this command's `-m`, `-f` and `--home` options."""
    from assay.project import load

    meta = click.get_current_context().meta
    return load(meta.get("assay.module"), file=meta.get("assay.file"), home=meta.get("assay.home"))


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def partition_options(fn: F) -> F:
    """`--partition KEY` (repeatable) and `--from A --to B`."""
    fn = click.option("--to", "last", metavar="KEY", help="Last partition of a range (included).")(
        fn
    )
    fn = click.option("--from", "first", metavar="KEY", help="First partition of a range.")(fn)
    fn = click.option(
        "--partition",
        "-p",
        "partition_keys",
        multiple=True,
        metavar="KEY",
        help="A partition key; repeat for several.",
    )(fn)
    return fn


def instant(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A click callback: an ISO time option as an aware datetime (UTC without offset)."""
    if value is None:
        return None
    from assay.automation.cron import parse_instant

    try:
        return parse_instant(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO time like 2024-06-01T06:00 or 2024-06-01T06:00+02:00"
        ) from None


def partition_selection(keys: tuple[str, ...], first: str | None, last: str | None) -> Any:
    from assay.partitions.selection import PartitionSelection

    return PartitionSelection(keys=keys, first=first, last=last)


def run_id_option(fn: F) -> F:
    """`--run-key K`, `--at TIME`, and `--run-id ID` (hidden: the id the launcher gives
    a run)."""
    fn = click.option("--run-id", hidden=True, help="The id to record the run under.")(fn)
    fn = click.option(
        "--at",
        "at",
        metavar="TIME",
        callback=instant,
        help="Take TIME as now for time partitions (ISO, UTC unless it has an offset): "
        "what `assay tick --at` passes to the runs it launches.",
    )(fn)
    return click.option(
        "--run-key",
        metavar="KEY",
        help="Run at most once under this key (for schedulers): a key an earlier run holds "
        "runs nothing and exits 0. `assay runs retry RUN` runs a failed one again.",
    )(fn)


def say_duplicate(result: Any) -> bool:
    """Say that the run key was claimed before, and by which run; True when it was."""
    if not result.is_duplicate:
        return False
    short = result.run_id[:8]
    if result.status in ("failed", "canceled", "died"):
        hint = f"`assay runs retry {short}` runs it again under its key"
    elif result.status == "running":
        hint = f"`assay runs show {short}` follows it"
    else:
        hint = "it ran already"
    click.echo(
        f"Run key {result.run_key!r} is held by run {short} ({result.status}): nothing to do; "
        f"{hint}."
    )
    return True


def read_plan(
    project: Project, file: TextIO, selection: tuple[str, ...], chosen: Any, force: bool
) -> Any:
    """The plan in `file`, for `--plan`, which takes no selection, partitions or --force.

    Raises:
        click.UsageError: `--plan` was given with any of those.
        PlanError: the file is not a plan, or names what the project no longer has.
    """
    from assay.planning.serialize import plan_from_json

    if selection or force or not chosen.is_everything:
        raise click.UsageError(
            "--plan applies the plan as it is: leave out the selection, the partitions "
            "and --force (make a new plan with them instead)"
        )
    name = getattr(file, "name", "the plan")
    try:
        data = json.load(file)
    except ValueError as exc:
        raise PlanError(f"{name} is not JSON ({exc}): write it with `assay plan --json`") from None
    return plan_from_json(data, project.graph, source=str(name))


def executor_options(fn: F) -> F:
    """`--executor in_process|multiprocess|dask`, `--workers N` and `--dask-address URL`."""
    fn = click.option(
        "--dask-address",
        metavar="URL",
        help="A running Dask scheduler (tcp://HOST:8786) for --executor dask; implies it "
        "(default: ASSAY_DASK_ADDRESS or [tool.assay] dask_address, else a LocalCluster).",
    )(fn)
    fn = click.option(
        "--workers",
        type=WholeNumber(1),
        help="Worker processes for multiprocess, or for dask's LocalCluster (default: CPU count).",
    )(fn)
    fn = click.option(
        "--executor",
        type=click.Choice(["in_process", "multiprocess", "dask"]),
        help="Where steps run: this process, one at a time (default); a pool of processes; "
        "or a Dask cluster. Default: ASSAY_EXECUTOR or [tool.assay] executor.",
    )(fn)
    return fn


def config_options(fn: F) -> F:
    """`--config FILE` and `--set ASSET.FIELD=VALUE` (repeatable), read together into
    the `run_config` argument: the layers over the project's configuration."""

    def combine(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta.setdefault("assay_config", {})[param.name] = value
        return value

    fn = click.option(
        "--set",
        "config_sets",
        multiple=True,
        metavar="ASSET.FIELD=VALUE",
        callback=combine,
        expose_value=False,
        help="A configuration value of an asset (repeatable; over --config): "
        "--set scored.threshold=0.1.",
    )(fn)
    fn = click.option(
        "--config",
        "config_file",
        metavar="FILE",
        callback=combine,
        expose_value=False,
        help="Configuration of assets from a JSON, YAML or TOML file mapping asset keys to "
        "their fields, or that JSON itself (over [tool.assay.config] and ASSAY_CONFIG). "
        "See docs/config.md.",
    )(fn)
    return fn


def run_config() -> list[Any] | None:
    """The layers `--config` and `--set` gave the current command (None: neither).

    Raises:
        ConfigError: the file cannot be read, or a `--set` is malformed.
    """
    from pathlib import Path

    from assay.run_config import inline_json, read_file, set_layer

    given = click.get_current_context().meta.get("assay_config", {})
    layers: list[Any] = []
    named = given.get("config_file")
    if named and named.lstrip().startswith("{"):  # inline JSON (what the daemon passes)
        layers.append(inline_json(named, "--config"))
    elif named:
        layers.append(read_file(Path(named)))
    if given.get("config_sets"):
        layers.append(set_layer(given["config_sets"]))
    return layers or None
