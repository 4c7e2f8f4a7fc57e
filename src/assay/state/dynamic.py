"""The keys of dynamic partitions: changed by journaling `partition_key` records (one
per key, ordered by the state's clock), read from the indexed `partition_key_changes`.

Each change is a journal of its own, fsynced before it is indexed, so two processes
adding keys at once lose nothing: the indexer takes every journal.
"""

from __future__ import annotations

import difflib
import logging
import time
import uuid
from typing import TYPE_CHECKING

from assay.errors import PartitionKeyError, StateLockedError
from assay.partitions.base import PartitionContext
from assay.partitions.dynamic import DynamicPartitions, validate_keys
from assay.partitions.keysets import DynamicKeys, KeySet
from assay.state.clock import Clock
from assay.state.journal import Journal
from assay.state.reader import StateReader
from assay.state.store import StateStore

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime
    from pathlib import Path

    from assay.graph import AssetGraph
    from assay.state.records import Record

_log = logging.getLogger("assay.state")


def dynamic_names(graph: AssetGraph) -> list[str]:
    """The names of the dynamic partitions the graph's assets use, sorted (worked out
    once per graph: every plan and tick asks)."""
    return list(graph.derived("dynamic names", _dynamic_names))


def _dynamic_names(graph: AssetGraph) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                spec.partitions.name
                for spec in graph.specs.values()
                if isinstance(spec.partitions, DynamicPartitions)
            }
        )
    )


def partition_context(
    graph: AssetGraph, reader: StateReader | None, now: datetime | None = None
) -> PartitionContext:
    """The context of a plan at `now`: with the keys of every dynamic partitions the
    graph uses, read once (no read when it uses none)."""
    names = dynamic_names(graph)
    if not names:
        return PartitionContext.at(now)
    found = reader.dynamic_key_sets(names) if reader is not None else {}
    context = PartitionContext.at(
        now, DynamicKeys({name: found.get(name) or KeySet() for name in names})
    )
    for spec in graph.specs.values():  # what asks a definition without a context (messages,
        if isinstance(spec.partitions, DynamicPartitions):  # folds) sees these keys too
            spec.partitions.key_set(context)
    return context


def find_dynamic(graph: AssetGraph, name: str) -> DynamicPartitions:
    """The dynamic partitions `name` of the graph.

    Raises:
        PartitionKeyError: no asset uses dynamic partitions of that name.
    """
    for spec in graph.specs.values():
        if isinstance(spec.partitions, DynamicPartitions) and spec.partitions.name == name:
            return spec.partitions
    names = dynamic_names(graph)
    close = difflib.get_close_matches(name, names, n=1)
    hint = (
        f"Did you mean {close[0]!r}?"
        if close
        else f"the project has {', '.join(map(repr, names))}"
        if names
        else "no asset uses DynamicPartitions"
    )
    raise PartitionKeyError(f"no asset has DynamicPartitions({name!r}): {hint}")


def planned_changes(
    current: Sequence[str], keys: Iterable[str], *, is_add: bool, name: str
) -> tuple[str, ...]:
    """The keys that adding (or removing) `keys` changes, given the `current` ones.

    Raises:
        PartitionKeyError: a key is not a valid partition key, or (removing) not one
            of the current keys, naming it.
    """
    wanted = validate_keys(keys)
    present = set(current)
    if is_add:
        return tuple(k for k in wanted if k not in present)
    unknown = [k for k in wanted if k not in present]
    if unknown:
        close = difflib.get_close_matches(unknown[0], current, n=1)
        hint = f"Did you mean {close[0]!r}?" if close else f"See `assay partitions list {name}`."
        shown = ", ".join(map(repr, unknown))
        raise PartitionKeyError(f"cannot remove {shown}: not a key of {name!r}. {hint}")
    return wanted


def change_records(home: Path, name: str, keys: Sequence[str], *, is_add: bool) -> list[Record]:
    """One `partition_key` record per key, in order on the state's clock."""
    at, batch = time.time(), uuid.uuid4().hex
    with Clock(home) as clock:
        first = clock.reserve(len(keys))
    return [
        {
            "type": "partition_key",
            "change_id": f"{batch}:{n}",
            "name": name,
            "partition_key": key,
            "is_added": is_add,
            "at": at,
            "seq": first + n,
        }
        for n, key in enumerate(keys)
    ]


def change_partition_keys(
    home: Path, name: str, keys: Iterable[str], *, is_add: bool
) -> tuple[str, ...]:
    """Add (or remove) keys of the dynamic partitions `name`: journaled, fsynced, then
    indexed. Returns the keys that changed (adding a present key changes nothing).

    While a process outside assay holds the store, keys to add are journaled all the
    same (adding a present key again changes nothing) and indexed once it is free.

    Raises:
        PartitionKeyError: see `planned_changes`.
        StateLockedError: removing while the store is held (the keys must be read).
    """
    try:
        current = StateReader(home).dynamic_partition_keys([name]).get(name, ())
    except StateLockedError as exc:
        if not is_add:
            raise
        _log.warning("%s; the keys wait in the journal until it is free", _first_clause(exc))
        current = ()
    changed = planned_changes(current, keys, is_add=is_add, name=name)
    if not changed:
        return ()
    store = StateStore(home)
    records = change_records(home, name, changed, is_add=is_add)
    with Journal(store.journal_dir, f"partitions-{uuid.uuid4().hex[:12]}") as journal:
        journal.append(
            *records,
            {"type": "journal_closed", "journal": journal.path.stem, "at": time.time()},
            durable=True,
        )
    store.index_pending()
    return changed


def _first_clause(exc: StateLockedError) -> str:
    """`the state store ... is held by PID 12 (python)`, without the advice that follows."""
    return str(exc).split(":", 1)[0] if ":" in str(exc) else str(exc)
