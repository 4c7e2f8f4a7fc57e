"""`assay check`: schemas and asset checks against stored data, for CI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assay.cli.options import (
    json_option,
    open_project,
    partition_options,
    partition_selection,
    print_json,
    project_options,
    selection_argument,
)
from assay.errors import AssayError, RunFailedError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.execution.check_run import CheckRunResult
    from assay.project import Project

OUTCOMES = ("passed", "warned", "failed", "errored")
SHOWN_DETAILS = 3  # distinct details shown per check that did not pass
DETAIL_CHARS = 300


@click.command("check")
@selection_argument
@partition_options
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, writable=True),
    callback=lambda ctx, param, value: _writable_file(value),
    help="Also write the results as JUnit XML (a test case per check and partition).",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Show every result (a row per check and partition), not only those that did not pass.",
)
@json_option
@project_options
def check_command(
    selection: tuple[str, ...],
    partition_keys: tuple[str, ...],
    first: str | None,
    last: str | None,
    junit_xml: str | None,
    show_all: bool,
    as_json: bool,
) -> None:
    """Run schemas and checks against the stored data; materializes nothing.

    Shows, per asset, how many results passed, warned, failed and errored, then
    each check that did not pass with its partitions as ranges (`--all`: every
    result; `--json`: every result with its metadata).

    Exits 1 when a check of severity `error` fails (or raises), 0 otherwise:
    warnings are shown, not fatal. Exits 2, recording nothing, when nothing
    selected is stored or has checks.
    """

    project = open_project()
    freshness = _freshness(project, selection)
    result = project.check(selection, partitions=partition_selection(partition_keys, first, last))
    if junit_xml:
        Path(junit_xml).write_text(junit(result), encoding="utf-8")
    if as_json:
        unchecked = list(result.unchecked)
        run_id = result.run_id or None  # nothing checked: nothing recorded, no run
        print_json(
            {
                "run_id": run_id,
                "results": result.rows(),
                "unchecked": unchecked,
                "freshness": freshness,
            }
        )
    elif result.checked:
        _print_all(result) if show_all else _print_summary(project, result)
    if freshness and not as_json:
        _print_freshness(freshness)
    late = [f for f in freshness if f["missed"] and f["severity"] == "error"]
    if late and result.success:
        raise RunFailedError(
            f"{len(late)} asset{'s' * (len(late) != 1)} missed an error-severity freshness "
            "promise (see above)"
        )
    if freshness and not result.checked:
        return
    if not result.checked and result.unchecked:
        many = len(result.unchecked) > 1
        raise AssayError(
            f"nothing to check: {', '.join(result.unchecked)} {'have' if many else 'has'} no "
            "stored materialization; materialize first (`assay materialize`)"
        )
    if not result.checked:
        raise AssayError("nothing to check: no selected asset has a schema or an @asset_check")
    if not result.success:
        count = len(result.failed)
        raise RunFailedError(
            f"{count} error-severity check result{'s' * (count != 1)} failed "
            f"(see above; `assay check --json` has the metadata)"
        )


def _freshness(project: Project, selection: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each selected asset with a `Freshness`: its partitions missed now."""
    from assay.cli.automation import freshness_now

    keys = project.select(selection)
    rows = []
    for key, state in freshness_now(project, keys).items():
        definition = project.graph.specs[key].partitions
        missed = state.missed_subset
        rows.append(
            {
                "asset": str(key),
                "policy": state.policy.describe(),
                "severity": state.policy.severity,
                "missed": len(missed),
                "partitions": None if definition is None or not missed else definition.fold(missed),
            }
        )
    return rows


def _print_freshness(rows: list[dict[str, Any]]) -> None:
    click.echo("Freshness:")
    for row in rows:
        if not row["missed"]:
            click.echo(f"  {row['asset']}: on time ({row['policy']})")
            continue
        where = f" {row['partitions']}" if row["partitions"] else ""
        what = "missed" if row["severity"] == "error" else "missed (warn)"
        click.echo(f"  {row['asset']}{where}: {what}, {row['policy']}")


def _writable_file(value: str | None) -> str | None:
    """The path, if its folder exists and takes files: known before any check runs."""
    if value is None:
        return None
    folder = Path(value).parent
    if not folder.is_dir():
        raise click.BadParameter(f"folder {str(folder)!r} does not exist: create it first")
    if not os.access(folder, os.W_OK):
        raise click.BadParameter(f"folder {str(folder)!r} is not writable: pick another path")
    return value


def outcome_of(row: dict[str, object]) -> str:
    """passed, warned (a warn-severity check that did not pass), failed or errored."""
    if row["status"] == "passed":
        return "passed"
    if row["status"] == "errored":
        return "errored"
    return "warned" if row["severity"] == "warn" else "failed"


def _print_summary(project: Project, result: CheckRunResult) -> None:
    """Per asset, its checks x partitions counted by outcome; then each check that
    did not pass, once, with its partitions folded into ranges and its details."""
    from assay.cli.render import console, escape, table

    rows = result.rows()
    by_asset: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_asset.setdefault(str(row["asset_key"]), []).append(row)
    out = table("asset", "checks", "partitions", *OUTCOMES)
    for asset, found in by_asset.items():
        counts = dict.fromkeys(OUTCOMES, 0)
        for row in found:
            counts[outcome_of(row)] += 1
        names = list(dict.fromkeys(str(row["check"]) for row in found))
        partitions = {row["partition_key"] for row in found}
        out.add_row(
            escape(asset),
            escape(_names(names)),
            f"{len(partitions):,}" if partitions != {None} else "-",
            *(_count(name, counts[name]) for name in OUTCOMES),
        )
    shown = console()
    shown.print(out)
    bad = [row for row in rows if outcome_of(row) != "passed"]
    if bad:
        shown.print("\nDid not pass:")
        for line in _problem_lines(project, bad):
            shown.print(line)
    for asset in result.unchecked:
        shown.print(f"[yellow]not checked:[/] {escape(asset)} (nothing stored)")
    totals = dict.fromkeys(OUTCOMES, 0)
    for row in rows:
        totals[outcome_of(row)] += 1
    said = [f"{totals['passed']:,} passed"]
    said += [f"{totals[name]:,} {name}" for name in OUTCOMES[1:] if totals[name]]
    plural = "s" * (len(rows) != 1)
    more = "" if not bad else " (`--all` shows every result, `--json` their metadata)"
    shown.print(f"\n{len(rows):,} result{plural}: {', '.join(said)}.{more}")


def _count(outcome: str, count: int) -> str:
    if not count or outcome == "passed":
        return f"{count:,}"
    style = {"warned": "yellow", "failed": "red", "errored": "red"}[outcome]
    return f"[{style}]{count:,}[/]"


def _names(names: Sequence[str]) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    return f"{', '.join(names[:2])} and {len(names) - 2} more"


def _problem_lines(project: Project, bad: list[dict[str, object]]) -> list[str]:
    """A line per (asset, check, outcome) with its partitions as ranges, then up to
    SHOWN_DETAILS distinct details, each with the partitions that share it."""
    from assay.cli.render import escape, fold_keys, status_text

    groups: dict[tuple[str, str, str], list[dict[str, object]]] = {}
    for row in bad:
        key = (str(row["asset_key"]), str(row["check"]), outcome_of(row))
        groups.setdefault(key, []).append(row)
    order = {"failed": 0, "errored": 1, "warned": 2}
    lines = []
    for (asset, check, outcome), found in sorted(
        groups.items(), key=lambda item: order[item[0][2]]
    ):
        definition = _definition(project, asset)
        first = found[0]
        severity = str(first["severity"]) + (", blocking" if first["blocking"] else "")
        where = fold_keys(definition, (_key(row) for row in found))
        count = f"{len(found):,} partition{'s' * (len(found) != 1)}"
        head = f"  {escape(asset)}  {escape(check)}  {status_text(outcome)} ({severity})"
        lines.append(head + (f"  {count}: {escape(where)}" if where != "-" else ""))
        # details that differ only by naming their own partition are one detail
        details: dict[str, list[tuple[str | None, str]]] = {}
        for row in found:
            text = _clip(str(row["error"] or metadata_text(row["metadata"]) or ""))
            partition = row["partition_key"]
            same = text.replace(str(partition), "\0") if partition else text
            details.setdefault(same, []).append((partition, text))  # type: ignore[arg-type]
        if list(details) == [""]:
            continue
        for shared in list(details.values())[:SHOWN_DETAILS]:
            keys = [partition for partition, _ in shared]
            at = "" if len(details) == 1 else f"{fold_keys(definition, keys, ranges=2)}: "
            example, text = shared[0]
            if any(other != text for _, other in shared):
                at += f"e.g. {example}: "
            lines.append(f"    {escape(at)}{escape(text)}")
        if len(details) > SHOWN_DETAILS:
            rest = sum(len(keys) for keys in list(details.values())[SHOWN_DETAILS:])
            lines.append(
                f"    … {rest:,} more partition{'s' * (rest != 1)} with other details "
                f"(`assay check {asset} --all`)"
            )
    return lines


def _key(row: dict[str, object]) -> str | None:
    key = row["partition_key"]
    return None if key is None else str(key)


def _definition(project: Project, asset: str) -> Any:
    from assay.keys import AssetKey

    spec = project.graph.specs.get(AssetKey.parse(asset))
    return None if spec is None else spec.partitions


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def _print_all(result: CheckRunResult) -> None:
    from assay.cli.render import console, escape, status_text, table

    out = table("asset", "partition", "check", "severity", "status", "details")
    for row in result.rows():
        status = str(row["status"])
        details = row["error"] or metadata_text(row["metadata"])
        severity = str(row["severity"]) + (" (blocking)" if row["blocking"] else "")
        out.add_row(
            escape(str(row["asset_key"])),
            escape(str(row["partition_key"] or "-")),
            escape(str(row["check"])),
            severity,
            status_text(status),
            escape(_clip(str(details or ""))),
        )
    shown = console()
    shown.print(out)
    for asset in result.unchecked:
        shown.print(f"[yellow]not checked:[/] {escape(asset)} (nothing stored)")
    passed = sum(1 for row in result.rows() if row["status"] == "passed")
    shown.print(f"\n{passed} passed, {len(result.rows()) - passed} did not pass.")


def metadata_text(metadata: object) -> str:
    """`max_revenue=16.0, limit=12.0`: the first few items, a list as its length
    (a schema's assertions are `19 assertions`, never their JSON)."""
    if not isinstance(metadata, dict) or not metadata:
        return ""
    shown = []
    for key, value in list(metadata.items())[:4]:
        if isinstance(value, list):
            shown.append(f"{len(value)} {key}" if key.endswith("s") else f"{key}: {len(value)}")
        elif isinstance(value, dict):
            shown.append(f"{key}: {len(value)} items")
        else:
            shown.append(f"{key}={value if isinstance(value, str) else json.dumps(value)}")
    return ", ".join(shown)


def _metadata(metadata: object) -> str:
    """The first few metadata items as JUnit messages have always shown them."""
    if not isinstance(metadata, dict) or not metadata:
        return ""
    shown = list(metadata.items())[:4]
    return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in shown)


def junit(result: CheckRunResult) -> str:
    """JUnit XML: a test suite per asset, a test case per check and partition. An
    error-severity result that did not pass is a failure (or an error, when the check
    raised); a failed warning passes, with the warning in its output."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="assay check")
    by_asset: dict[str, list[dict[str, object]]] = {}
    for row in result.rows():
        by_asset.setdefault(str(row["asset_key"]), []).append(row)
    for asset, rows in by_asset.items():
        suite = ET.SubElement(suites, "testsuite", name=asset, tests=str(len(rows)))
        failures = errors = 0
        for row in rows:
            where = f"[{row['partition_key']}]" if row["partition_key"] else ""
            case = ET.SubElement(suite, "testcase", classname=asset, name=f"{row['check']}{where}")
            message = str(row["error"] or _metadata(row["metadata"]) or row["status"])
            if row["status"] == "passed":
                continue
            if row["severity"] == "warn":
                ET.SubElement(case, "system-out").text = f"warning: {message}"
            elif row["status"] == "errored":
                errors += 1
                ET.SubElement(case, "error", message=message).text = message
            else:
                failures += 1
                ET.SubElement(case, "failure", message=message).text = json.dumps(
                    row["metadata"], indent=2, default=str
                )
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
