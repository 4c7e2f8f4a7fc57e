"""`assay check`: schemas and asset checks against stored data, for CI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

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
    from assay.execution.check_run import CheckRunResult


@click.command("check")
@selection_argument
@partition_options
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, writable=True),
    callback=lambda ctx, param, value: _writable_file(value),
    help="Also write the results as JUnit XML (a test case per check and partition).",
)
@json_option
@project_options
def check_command(
    selection: tuple[str, ...],
    partition_keys: tuple[str, ...],
    first: str | None,
    last: str | None,
    junit_xml: str | None,
    as_json: bool,
) -> None:
    """Run schemas and checks against the stored data; materializes nothing.

    Exits 1 when a check of severity `error` fails (or raises), 0 otherwise:
    warnings are shown, not fatal. Exits 2, recording nothing, when nothing
    selected is stored or has checks.
    """

    project = open_project()
    result = project.check(selection, partitions=partition_selection(partition_keys, first, last))
    if junit_xml:
        Path(junit_xml).write_text(junit(result), encoding="utf-8")
    if as_json:
        unchecked = list(result.unchecked)
        run_id = result.run_id or None  # nothing checked: nothing recorded, no run
        print_json({"run_id": run_id, "results": result.rows(), "unchecked": unchecked})
    elif result.checked:
        _print(result)
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


def _print(result: CheckRunResult) -> None:
    from assay.cli.render import console, status_text, table

    out = table("asset", "partition", "check", "severity", "status", "details")
    for row in result.rows():
        status = str(row["status"])
        details = row["error"] or _metadata(row["metadata"])
        severity = str(row["severity"]) + (" (blocking)" if row["blocking"] else "")
        out.add_row(
            str(row["asset_key"]),
            str(row["partition_key"] or "-"),
            str(row["check"]),
            severity,
            status_text(status),
            str(details or ""),
        )
    shown = console()
    shown.print(out)
    for asset in result.unchecked:
        shown.print(f"[yellow]not checked:[/] {asset} (nothing stored)")
    passed = sum(1 for row in result.rows() if row["status"] == "passed")
    shown.print(f"\n{passed} passed, {len(result.rows()) - passed} did not pass.")


def _metadata(metadata: object) -> str:
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
