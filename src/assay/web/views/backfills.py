"""`/backfills` and `/backfills/<id>`: progress per asset, the partitions that failed
or were skipped and why; resume and cancel (with actions on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.web.views.common import ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

LISTED = 50
PROBLEMS_SHOWN = 500


def backfills_page(request: Request) -> Response:
    ui = ui_of(request)
    found = ui.reads.get(("backfills",), lambda r: r.backfills(limit=LISTED))
    return ui.render(
        request,
        "backfills.html",
        title="Backfills",
        backfills=found.value,
        read_reason=found.reason,
    )


def backfill_page(request: Request) -> Response:
    from assay.execution.backfill import RESUMABLE, progress

    ui = ui_of(request)
    wanted = request.path_params["backfill_id"]

    def read(reader: object) -> tuple[dict[str, object], list[dict[str, object]]]:
        row = reader.backfill(wanted)  # type: ignore[attr-defined]
        return row, reader.backfill_steps(row["backfill_id"])  # type: ignore[attr-defined]

    found = ui.reads.get(("backfill", wanted), read)
    row, steps = found.value
    assets = progress(ui.project.graph, row, steps)
    problems = [s for s in steps if s["status"] in ("failed", "skipped", "interrupted")]
    return ui.render(
        request,
        "backfill.html",
        title=f"Backfill {str(row['backfill_id'])[:8]}",
        backfill=row,
        assets=assets,
        problems=problems[:PROBLEMS_SHOWN],
        problem_total=len(problems),
        resumable=row["status"] in RESUMABLE,
        cancelable=row["status"] == "running",
        live=row["status"] in ("running", "canceling"),
        read_reason=found.reason,
    )
