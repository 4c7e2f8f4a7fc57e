"""The fingerprint of a Pandera schema: what it declares, never object ids.

Per column: its name, dtype, nullable, unique, coerce, required and regex flags
and each check (its name, its statistics such as `min_value`, how it applies);
the schema's own options (strict, ordered, coerce, unique, ...) and its
dataframe-level checks. A custom check function counts by the code version of
the function (and the project code it uses). Titles, descriptions and error
messages do not count: they change no verdict.
"""

from __future__ import annotations

import json
from typing import Any

from assay.versioning.parts import collect_parts
from assay.versioning.sources import digest, in_project, project_root_of

_SCHEMA_OPTIONS = (
    "strict",
    "ordered",
    "coerce",
    "unique",
    "report_duplicates",
    "unique_column_names",
    "add_missing_columns",
    "drop_invalid_rows",
)
_COLUMN_OPTIONS = ("nullable", "unique", "coerce", "required", "regex", "drop_invalid_rows")
_CHECK_OPTIONS = ("element_wise", "ignore_na", "raise_warning", "n_failure_cases", "groupby")


def schema_fingerprint(schema: Any) -> str:
    """A digest of what the schema (a `DataFrameModel` subclass or a `DataFrameSchema`)
    declares: equal for equal declarations, in every process."""
    declared = schema.to_schema() if isinstance(schema, type) else schema  # type: ignore[attr-defined]
    columns = [_column(name, column) for name, column in getattr(declared, "columns", {}).items()]
    if not getattr(declared, "ordered", False):
        columns.sort(key=lambda column: str(column["name"]))
    described = {
        "options": {name: _text(getattr(declared, name, None)) for name in _SCHEMA_OPTIONS},
        "dtype": _text(getattr(declared, "dtype", None)),
        "columns": columns,
        "checks": [_check(check) for check in getattr(declared, "checks", None) or ()],
    }
    return digest(json.dumps(described, sort_keys=True))


def _column(name: Any, column: Any) -> dict[str, Any]:
    return {
        "name": str(name),
        "dtype": _text(getattr(column, "dtype", None)),
        **{option: _text(getattr(column, option, None)) for option in _COLUMN_OPTIONS},
        "checks": [_check(check) for check in getattr(column, "checks", None) or ()],
    }


def _check(check: Any) -> dict[str, Any]:
    described = {
        "name": _text(getattr(check, "name", None)),
        "statistics": _text(getattr(check, "statistics", None)),
        **{option: _text(getattr(check, option, None)) for option in _CHECK_OPTIONS},
    }
    function = getattr(check, "_check_fn", None)
    if function is not None:
        described["function"] = _function_version(function)
    return described


def _function_version(function: Any, depth: int = 0) -> str:
    """The code version of the user's function behind a check (Pandera wraps the
    methods of a `DataFrameModel` in adapters: look through their closures)."""
    code = getattr(function, "__code__", None)
    if code is not None and in_project(code.co_filename, project_root_of(code.co_filename)):
        parts = collect_parts(function)
        return digest(json.dumps(parts, sort_keys=True))
    if depth < 3:
        inner = [getattr(function, "__wrapped__", None), getattr(function, "__func__", None)]
        for cell in getattr(function, "__closure__", None) or ():
            try:
                inner.append(cell.cell_contents)
            except ValueError:
                continue
        found = [_function_version(i, depth + 1) for i in inner if callable(i)]
        found = [f for f in found if f]
        if found:
            return digest("\n".join(found))
    return "" if depth else str(getattr(function, "__qualname__", "") or "")


def _text(value: Any) -> Any:
    """A JSON-ready, stable rendering of a declared value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(str(_text(v)) for v in value)
    shown = str(value)
    return "<object>" if " at 0x" in shown else shown
