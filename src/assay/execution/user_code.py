"""User-code failures as values: what raised, where in the user's code, the part of
the traceback that is theirs."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import AssayError
from assay.results import StepError

if TYPE_CHECKING:
    from assay.checks import CheckSpec
    from assay.spec import AssetSpec

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])


def step_error(exc: BaseException, spec: AssetSpec | CheckSpec | None = None) -> StepError:
    """The error of a step whose code raised `exc`.

    An `AssayError` (a missing input, a bad output type) is assay's own message;
    anything else is user code: its type, its first line, the deepest frame in the
    asset's (or check's) own file, else the deepest frame outside assay.
    """
    if isinstance(exc, AssayError):
        return StepError(message=str(exc), traceback=user_traceback(exc))
    location = _location(exc, spec)
    text = str(exc).strip()
    first = f": {text.splitlines()[0]}" if text else ""
    where = f" ({Path(location).name})" if location else ""
    return StepError(
        message=f"{type(exc).__name__}{first}{where}",
        exception=type(exc).__name__,
        location=location,
        traceback=user_traceback(exc),
    )


def describe_exception(exc: BaseException, spec: AssetSpec | CheckSpec | None = None) -> str:
    """`ValueError: bad value (pipeline.py:12)`, or an assay error's own message."""
    return step_error(exc, spec).message


def _location(exc: BaseException, spec: AssetSpec | CheckSpec | None) -> str | None:
    frames = traceback.extract_tb(exc.__traceback__)
    own_file = (
        None if spec is None else getattr(getattr(spec.fn, "__code__", None), "co_filename", None)
    )
    mine = [f for f in frames if f.filename == own_file] or [
        f for f in frames if not f.filename.startswith(_PACKAGE_DIR)
    ]
    return f"{mine[-1].filename}:{mine[-1].lineno}" if mine else None


def user_traceback(exc: BaseException) -> str:
    """The traceback without assay's own frames at its top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        if tb.tb_next is None:
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))
