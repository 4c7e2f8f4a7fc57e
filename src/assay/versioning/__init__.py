"""Code versions and data versions.

Code version: the explicit `code_version=` ("I decide": nothing else counts),
or a digest of what the function runs: its own syntax tree (without name,
decorators, docstrings, comments and formatting) and, transitively, the
functions, classes and module-level values of the user's project that it uses
(`parts`). What it was made of is recorded with every materialization
(`code_parts`), so `assay why` can say which part changed. An asset that uses
nothing of the project has the digest of its own body, as before helpers
counted. Code is versioned as it was imported (`sources`), not as its file
reads later.

Data version: the xxh3-128 hash of the Parquet bytes polars writes for the
output. Polars writes byte-identical Parquet for the same frame, so identical
content gives identical versions across processes and runs (with one polars
version; its chunk layout can change the bytes).
"""

from __future__ import annotations

import json
import weakref
from functools import cache
from typing import TYPE_CHECKING, Any

from assay.io.hashing import data_version, file_data_version
from assay.versioning.parts import BODY, body_digest, collect_parts
from assay.versioning.schemas import schema_fingerprint
from assay.versioning.sources import digest, generation

__all__ = ["code_version", "data_version", "file_data_version", "inputs_signature", "source_hash"]

if TYPE_CHECKING:
    from collections.abc import Mapping

    from assay.checks import CheckSpec
    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.spec import AssetSpec


def code_version(spec: AssetSpec) -> str:
    """The asset's explicit code version, else the digest of its code parts."""
    if spec.code_version is not None:
        return spec.code_version
    return version_of(code_parts(spec))


def code_parts(spec: AssetSpec) -> dict[str, str]:
    """What the asset's code version is made of: part name -> digest (`body`,
    `helper shop/util.py:clean_amount`, ...); empty for an explicit version."""
    if spec.code_version is not None:
        return {}
    return dict(_parts(spec.fn))


def code_parts_json(spec: AssetSpec) -> str | None:
    """`code_parts` as the JSON recorded with a materialization (None: explicit)."""
    parts = code_parts(spec)
    return json.dumps(parts, sort_keys=True, separators=(",", ":")) if parts else None


def check_version(check: CheckSpec) -> str:
    """The version of an `@asset_check`: its code, and the project code it uses
    (a check made by a factory counts the values it closes over: a threshold)."""
    return version_of(_parts(check.fn))


_SCHEMAS: dict[int, tuple[Any, int, str]] = {}


def schema_version(schema: Any) -> str:
    """The fingerprint of a Pandera schema: its declared columns and checks."""
    cached = _SCHEMAS.get(id(schema))
    if cached is not None and cached[0] is schema and cached[1] == generation():
        return cached[2]
    found = schema_fingerprint(schema)
    _SCHEMAS[id(schema)] = (schema, generation(), found)
    return found


def version_of(parts: Mapping[str, str]) -> str:
    """One digest of code parts; a function that uses nothing of the project keeps
    the digest of its own body."""
    if set(parts) == {BODY}:
        return parts[BODY]
    return digest("\n".join(f"{name}={value}" for name, value in sorted(parts.items())))


def describe_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Which parts differ, in words: `helper `clean_amount` in shop/util.py changed`."""
    found = []
    for name in sorted(set(old) | set(new), key=lambda n: (n != BODY, n)):
        if old.get(name) == new.get(name):
            continue
        what = describe_part(name)
        if name not in old:
            found.append(f"{what} is now used")
        elif name not in new:
            found.append(f"{what} is no longer used")
        else:
            found.append(f"{what} changed")
    return found


def describe_part(name: str) -> str:
    """`helper `clean_amount` in shop/util.py` for `helper shop/util.py:clean_amount`."""
    if name == BODY:
        return "its own code"
    if name == "arguments":
        return "the arguments functools.partial binds"
    kind, _, rest = name.partition(" ")
    where, _, qualname = rest.rpartition(":")
    if kind == "closure":
        function, _, variable = qualname.rpartition(".")
        return f"variable `{variable}` that `{function}` closes over ({where})"
    return f"{kind} `{qualname}` in {where}"


_PARTS: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, str]]] = weakref.WeakKeyDictionary()


def _parts(fn: Any) -> dict[str, str]:
    """`collect_parts`, once per function until sources are captured anew."""
    try:
        cached = _PARTS.get(fn)
    except TypeError:  # not weakly referenceable
        return collect_parts(fn)
    if cached is not None and cached[0] == generation():
        return cached[1]
    found = collect_parts(fn)
    _PARTS[fn] = (generation(), found)
    return found


@cache
def source_hash(fn: object) -> str:
    """Hash of a function's own syntax tree: stable under comments, formatting,
    docstrings, its name and its decorators (the `body` part of a code version)."""
    return body_digest(fn)


def inputs_signature(graph: AssetGraph, key: AssetKey) -> str:
    """The asset's upstream keys, sorted: a change means dependencies were added or
    removed; then, for an asset with a `config` parameter, `;config=` and the digest of
    its configuration (other values make its partitions stale)."""
    deps = ",".join(sorted(str(up) for up in graph.upstream[key]))
    config = graph.configs.get(key)
    return deps if config is None else f"{deps}{CONFIG_MARK}{config.digest}"


CONFIG_MARK = ";config="


def split_signature(signature: str | None) -> tuple[str, str | None]:
    """An inputs signature's dependencies, and its configuration digest (None: none)."""
    deps, mark, digest = (signature or "").partition(CONFIG_MARK)
    return deps, digest if mark else None
