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
import hashlib
import inspect
import textwrap
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assay.assets import AssetSpec


def code_version(spec: AssetSpec) -> str:
    """The asset's explicit code version, or a hash of its normalized source."""
    if spec.code_version is not None:
        return spec.code_version
    return source_hash(spec.fn)


@cache
def source_hash(fn: object) -> str:
    """Hash of a function's syntax tree: stable under comments, formatting and docstrings."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return "unknown"
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
            break
    dumped = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dumped.encode()).hexdigest()[:16]


def data_version(content: bytes) -> str:
    """The data version of stored bytes (see the module docstring)."""
    import xxhash

    return str(xxhash.xxh3_128_hexdigest(content))
