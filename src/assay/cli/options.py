"""Options shared by the commands, and loading the project they name."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from assay.project import Project

F = TypeVar("F", bound=Callable[..., Any])


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


def partition_selection(keys: tuple[str, ...], first: str | None, last: str | None) -> Any:
    from assay.partitions.selection import PartitionSelection

    return PartitionSelection(keys=keys, first=first, last=last)


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
        type=click.IntRange(min=1),
        help="Worker processes for multiprocess, or for dask's LocalCluster (default: CPU count).",
    )(fn)
    fn = click.option(
        "--executor",
        type=click.Choice(["in_process", "multiprocess", "dask"]),
        help="Where steps run: this process, one at a time (default); a pool of processes; "
        "or a Dask cluster. Default: ASSAY_EXECUTOR or [tool.assay] executor.",
    )(fn)
    return fn
