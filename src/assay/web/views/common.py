"""What several views share: the UI of a request, query parameters read safely, an
asset key from a URL, partition ranges in words."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from assay.errors import UnknownAssetError

if TYPE_CHECKING:
    from starlette.requests import Request

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext, PartitionsDefinition
    from assay.web.context import UI


def ui_of(request: Request) -> UI:
    ui: UI = request.app.state.ui
    return ui


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high].

    Raises:
        HTTPException: 400, it is not an integer in that range.
    """
    from starlette.exceptions import HTTPException

    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise HTTPException(400, f"{name} must be between {low} and {high}, not {value}")
    return value


def asset_key_of(graph: AssetGraph, path: str) -> AssetKey:
    """The asset a URL path names (`sales/orders`).

    Raises:
        UnknownAssetError: no such asset (with the nearest names).
    """
    from assay.errors import did_you_mean

    text = "/".join(unquote(part) for part in path.strip("/").split("/"))
    for key in graph.specs:
        if str(key) == text:
            return key
    hint = did_you_mean(text, [str(k) for k in graph.specs]).strip()
    raise UnknownAssetError(f"no asset {text!r}. {hint}".strip())


def partition_keys(definition: PartitionsDefinition | None, context: PartitionContext) -> list[str]:
    """Every key of `definition` (`[""]` for an unpartitioned asset)."""
    return [""] if definition is None else definition.keys(context=context)


def range_label(keys: list[str], first: int, last: int) -> str:
    """`2024-01-01..2024-03-31` for partitions first..last (inclusive)."""
    if keys == [""]:
        return "(unpartitioned)"
    return keys[first] if first == last else f"{keys[first]}..{keys[last]}"
