"""`assay partitions add|remove|list`: the keys of dynamic partitions."""

from __future__ import annotations

from typing import Any

import click

from assay.cli.options import json_option, open_project, print_json, project_options


@click.group("partitions")
def partitions_group() -> None:
    """The keys of dynamic partitions (`DynamicPartitions("customers")`).

    \b
      assay partitions add customers acme globex   (new keys, after the others)
      assay partitions remove customers globex     (its stored partitions leave the assets)
      assay partitions list customers              (the keys, in the order added)
    """


@partitions_group.command("add")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@json_option
@project_options
def add_command(name: str, keys: tuple[str, ...], as_json: bool) -> None:
    """Add KEYS to the dynamic partitions NAME (a key it has already is left as it is)."""
    added = open_project().add_partitions(name, list(keys))
    if as_json:
        print_json({"name": name, "added": added})
        return
    known = len(dict.fromkeys(keys)) - len(added)
    note = f" ({known} already present)" if known else ""
    shown = f": {_shown(added)}" if added else ""
    click.echo(f"Added {len(added)} key(s) to {name}{note}{shown}")


@partitions_group.command("remove")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True)
@json_option
@project_options
def remove_command(name: str, keys: tuple[str, ...], as_json: bool) -> None:
    """Remove KEYS from the dynamic partitions NAME: their stored partitions are no
    longer part of its assets (the data stays in storage), and assets that read every
    partition become stale."""
    removed = open_project().remove_partitions(name, list(keys))
    if as_json:
        print_json({"name": name, "removed": removed})
        return
    click.echo(f"Removed {len(removed)} key(s) from {name}: {_shown(removed)}")


@partitions_group.command("list")
@click.argument("name", required=False)
@json_option
@project_options
def list_command(name: str | None, as_json: bool) -> None:
    """The keys of the dynamic partitions NAME, in the order they were added (without
    NAME: each dynamic partitions of the project, with its assets and key count)."""
    from assay.partitions.dynamic import DynamicPartitions
    from assay.state.dynamic import dynamic_names

    project = open_project()
    if name is not None:
        keys = project.partition_keys(name)
        if as_json:
            print_json({"name": name, "keys": keys})
        else:
            if keys:
                click.echo("\n".join(keys))
        return
    names = dynamic_names(project.graph)
    stored = project.state.dynamic_partition_keys(names)
    rows: list[dict[str, Any]] = [
        {
            "name": n,
            "keys": len(stored.get(n, ())),
            "assets": [
                str(key)
                for key, spec in project.graph.specs.items()
                if isinstance(spec.partitions, DynamicPartitions) and spec.partitions.name == n
            ],
        }
        for n in names
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("No asset uses DynamicPartitions.")
    for row in rows:
        click.echo(f"{row['name']}  {row['keys']} key(s)  assets: {', '.join(row['assets'])}")


def _shown(keys: list[str]) -> str:
    """The keys, or the first six and how many (a sensor may add thousands)."""
    return ", ".join(keys) if len(keys) <= 8 else f"{', '.join(keys[:6])}, … ({len(keys)})"
