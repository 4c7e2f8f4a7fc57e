"""What schedules and sensors ask for: runs (with keys) or a reason to skip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import DefinitionError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    """A run a schedule or sensor asks for.

    `selection`: what to materialize (default: the schedule's or sensor's own).
    `partitions`: partition keys (default: the schedule's window, or all stale).
    `run_key`: runs at most once under this key (a sensor's request without one
    gets a key from its tick). `force`: run fresh partitions too. `priority`:
    higher runs first when the queue is full. `observe`: observe the selection's
    source assets first, then run what became stale. `config`: assets' run
    configuration values, over the project's (`{"scored": {"threshold": 0.1}}`,
    see docs/config.md).

    >>> RunRequest(partitions=["2024-06-01"], run_key="orders-2024-06-01").run_key
    'orders-2024-06-01'
    """

    selection: str | Sequence[str] | None = None
    partitions: Sequence[str] | None = None
    run_key: str | None = None
    force: bool | None = None
    priority: int = 0
    observe: bool = False  # observe the selection's source assets first
    config: Mapping[str, Any] | None = None  # assets' configuration values

    def __post_init__(self) -> None:
        if self.run_key is not None and (not isinstance(self.run_key, str) or not self.run_key):
            raise DefinitionError(
                f"RunRequest: run_key must be a non-empty string, got {self.run_key!r}"
            )
        if isinstance(self.partitions, str):
            object.__setattr__(self, "partitions", (self.partitions,))
        if self.partitions is not None:
            object.__setattr__(self, "partitions", tuple(str(p) for p in self.partitions))


@dataclass(frozen=True, slots=True)
class SkipReason:
    """Nothing to run this tick, and why (shown by `assay schedule list` and the log)."""

    reason: str = ""


def selection_args(selection: str | Sequence[str] | None) -> tuple[str, ...]:
    """A selection as the words of a command line."""
    if selection is None:
        return ()
    if isinstance(selection, str):
        return tuple(selection.split())
    return tuple(str(part) for part in selection)
