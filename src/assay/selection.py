"""dbt-style selections: `name`, `+name`, `name+`, `group:x`, `tag:k=v`, `key:sales/*`.

Terms are separated by spaces (or given as several arguments) and unioned.
`+` before a term adds its upstream assets, after it its downstream ones; a
number bounds the hops (`2+name`, `name+1`). `*` selects everything.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import SelectionError, did_you_mean
from assay.keys import AssetKey

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from assay.graph import AssetGraph

METHODS = ("group", "tag", "key")
ALL_HOPS = -1

_TERM = re.compile(
    r"(?P<up>(?P<up_n>\d+)?\+)?"
    r"(?:(?P<method>[A-Za-z_]+):)?"
    r"(?P<value>[^+\s]*)"
    r"(?P<down>\+(?P<down_n>\d+)?)?\Z"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SelectionTerm:
    """One space-separated part of a selection."""

    method: str  # "name", "group", "tag", "key" or "all"
    value: str
    upstream_hops: int = 0  # ALL_HOPS for every upstream asset
    downstream_hops: int = 0
    text: str = ""


@dataclass(frozen=True, slots=True)
class Selection:
    """A parsed selection; `resolve` turns it into asset keys for one graph."""

    terms: tuple[SelectionTerm, ...]

    @property
    def is_everything(self) -> bool:
        return not self.terms

    def __str__(self) -> str:
        return " ".join(term.text for term in self.terms) or "*"

    def resolve(self, graph: AssetGraph) -> list[AssetKey]:
        """The selected keys, in dependency order.

        Raises:
            SelectionError: a term that selects no asset, with a suggestion.
        """
        if self.is_everything:
            return list(graph.order)
        chosen: set[AssetKey] = set()
        for term in self.terms:
            matched = _match(term, graph)
            chosen |= matched
            if term.upstream_hops:
                chosen |= graph.upstream_of(matched, _depth(term.upstream_hops))
            if term.downstream_hops:
                chosen |= graph.downstream_of(matched, _depth(term.downstream_hops))
        return graph.ordered(chosen)


def parse_selection(text: str | Sequence[str] | None) -> Selection:
    """Parse `"+orders group:sales"` (or `["+orders", "group:sales"]`).

    Raises:
        SelectionError: naming the bad term and the column where it goes wrong.
    """
    parts = [text] if isinstance(text, str) else list(text or ())
    full = " ".join(parts)
    terms: list[SelectionTerm] = []
    for match in re.finditer(r"\S+", full):
        terms.append(_parse_term(match.group(), full, match.start()))
    if any(term.method == "all" for term in terms):
        return Selection(())
    return Selection(tuple(terms))


def _parse_term(raw: str, full: str, offset: int) -> SelectionTerm:
    def fail(column: int, why: str) -> SelectionError:
        return SelectionError(f"invalid selection {full!r} at column {offset + column + 1}: {why}")

    if raw == "*":
        return SelectionTerm(method="all", value="*", text=raw)
    match = _TERM.match(raw)
    if match is None:
        plus = raw.find("+", 1)
        inner = plus if plus > 0 and not raw[plus + 1 :].isdigit() else 0
        raise fail(inner, f"cannot read {raw!r}; '+' goes only before or after a term")
    method = match.group("method") or "name"
    value = match.group("value")
    value_column = match.start("value")
    if match.group("method") and method not in METHODS:
        hint = did_you_mean(method, METHODS)
        raise fail(
            match.start("method"),
            f"unknown method {method + ':'!r}.{hint} Methods: group:, tag:, key:",
        )
    if not value:
        what = f"{method}: needs a value" if method != "name" else "an asset name is missing"
        raise fail(value_column, what)
    if method == "name":
        try:
            AssetKey.parse(value)
        except Exception:
            raise fail(value_column, f"{value!r} is not an asset name") from None
    return SelectionTerm(
        method=method,
        value=value,
        upstream_hops=_hops(match.group("up"), match.group("up_n")),
        downstream_hops=_hops(match.group("down"), match.group("down_n")),
        text=raw,
    )


def _hops(plus: str | None, count: str | None) -> int:
    if not plus:
        return 0
    return int(count) if count else ALL_HOPS


def _depth(hops: int) -> int | None:
    return None if hops == ALL_HOPS else hops


def _match(term: SelectionTerm, graph: AssetGraph) -> set[AssetKey]:
    if term.method == "name":
        outputs = [
            k for k, s in graph.specs.items() if s.multi is not None and s.multi.name == term.value
        ]
        if outputs and not any(k.name == term.value for k in graph.specs):
            return set(outputs)  # a @multi_asset, by its function's name: every output
        return {_match_name(term.value, graph)}
    if term.method == "group":
        found = {k for k, s in graph.specs.items() if s.group == term.value}
        groups = sorted({s.group for s in graph.specs.values()})
        return _nonempty(found, term, f"Groups: {', '.join(groups)}.", groups)
    if term.method == "tag":
        tag_key, _, tag_value = term.value.partition("=")
        found = {
            k
            for k, s in graph.specs.items()
            if tag_key in s.tags and (not tag_value or s.tags[tag_key] == tag_value)
        }
        tags = sorted({f"{k}={v}" for s in graph.specs.values() for k, v in s.tags.items()})
        return _nonempty(found, term, f"Tags: {', '.join(tags) or 'none'}.", tags)
    found = {k for k in graph.specs if fnmatch.fnmatchcase(str(k), term.value)}
    return _nonempty(found, term, "Run `assay list` to see every key.", [])


def _match_name(value: str, graph: AssetGraph) -> AssetKey:
    key = AssetKey.parse(value)
    if key in graph:
        return key
    named = [k for k in graph.specs if k.name == value]
    if len(named) == 1:
        return named[0]
    if named:
        options = ", ".join(sorted(str(k) for k in named))
        raise SelectionError(f"{value!r} matches several assets ({options}); use the full key")
    candidates = [str(k) for k in graph.specs] + [k.name for k in graph.specs]
    raise SelectionError(
        f"{value!r} matches no asset.{did_you_mean(value, candidates)} "
        "Run `assay list` to see every asset."
    )


def _nonempty(
    found: set[AssetKey], term: SelectionTerm, listing: str, candidates: Iterable[str]
) -> set[AssetKey]:
    if found:
        return found
    hint = did_you_mean(term.value, candidates)
    raise SelectionError(f"{term.method}:{term.value} selects no asset.{hint} {listing}")
