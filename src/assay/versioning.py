"""Code versions and data versions.

Code version: the explicit `code_version=`, or a hash of the function's
normalized source. The source is parsed and its syntax tree dumped without
positions, decorators and docstring, so comments, formatting and docs do not
change the version; any change to the logic does.

Data version: the xxh3-128 hash of the Parquet bytes polars writes for the
output. Polars writes byte-identical Parquet for the same frame, so identical
content gives identical versions across processes and runs (with one polars
version; its chunk layout can change the bytes).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import linecache
import os
import textwrap
from functools import cache
from typing import TYPE_CHECKING

from assay.io.hashing import data_version, file_data_version

__all__ = ["code_version", "data_version", "file_data_version", "inputs_signature", "source_hash"]

if TYPE_CHECKING:
    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.spec import AssetSpec


def code_version(spec: AssetSpec) -> str:
    """The asset's explicit code version, or a hash of its normalized source."""
    if spec.code_version is not None:
        return spec.code_version
    return source_hash(spec.fn)


@cache
def source_hash(fn: object) -> str:
    """Hash of a function's syntax tree: stable under comments, formatting and docstrings."""
    node = _function_node(fn)
    if node is None:
        return "unknown"
    node = copy.copy(node)
    node.decorator_list = []
    node.name = ""  # a rename (name=...) is a key change, not a logic change
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        node.body = body[1:] or [ast.Pass()]
    dumped = ast.dump(node, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dumped.encode()).hexdigest()[:16]


def _function_node(fn: object) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function's syntax tree, found by line in its module's source (parsed once)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    nodes = _functions_by_line(code.co_filename)
    found = nodes.get(code.co_firstlineno)
    if found is not None and found.name == code.co_name:
        return found
    try:  # functions made by exec() or with an unusual layout
        source = textwrap.dedent(inspect.getsource(fn))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    first = ast.parse(source).body[0]
    return first if isinstance(first, ast.FunctionDef | ast.AsyncFunctionDef) else None


def _functions_by_line(filename: str) -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function in a file, by the first line of its code object (decorator or def)."""
    try:
        stat = os.stat(filename)
    except OSError:
        return {}
    return _parse_functions(filename, stat.st_mtime_ns, stat.st_size)


@cache
def _parse_functions(
    filename: str, mtime_ns: int, size: int
) -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Parsed once per version of the file (its modification time and size)."""
    linecache.checkcache(filename)
    lines = linecache.getlines(filename)
    if not lines:
        return {}
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return {}
    found: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.setdefault(first, node)
    return found


def inputs_signature(graph: AssetGraph, key: AssetKey) -> str:
    """The asset's upstream keys, sorted: a change means dependencies were added or removed."""
    return ",".join(sorted(str(up) for up in graph.upstream[key]))
