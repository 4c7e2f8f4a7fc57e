"""Errors a user can cause, one family, each named for what the user does next.

    AssayError                  exit_code 2 unless a subclass says otherwise
    ├── DefinitionError         the asset definitions are wrong (cycle, duplicate, bad input)
    │   ├── UnknownAssetError   a name matches no asset
    │   └── UnknownTargetError  a name matches no alert target
    ├── SelectionError          a selection string does not parse or matches nothing
    ├── PartitionKeyError       a partition key is invalid or outside its definition
    ├── UnknownRunError         a run id matches no recorded run
    │   └── UnknownBackfillError    a backfill id matches no recorded backfill
    ├── ConfigError             pyproject.toml, ASSAY_MODULE or a CLI option is wrong
    ├── PlanError               a plan cannot be applied: malformed, or made before a change
    ├── StateError              the state store cannot be read or written
    │   └── StateLockedError    another process holds the state store
    ├── ObservationError        a source's observe function failed; nothing recorded
    ├── ExecutorError           the executor cannot run steps (a Dask scheduler is gone)
    ├── AlertDeliveryError      an alert target did not take a message      (exit 1)
    ├── MaterializationError    user code or I/O failed in a step           (exit 1)
    └── RunFailedError          a run finished with failed steps            (exit 1)

The CLI prints `Error: <message>` on stderr and exits with `exit_code`;
`--debug` adds the traceback. Any other exception is a bug.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


class AssayError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code: int = 2


class DefinitionError(AssayError):
    """The asset definitions cannot form a valid graph."""


class UnknownAssetError(DefinitionError):
    """A name refers to no asset."""


class UnknownTargetError(DefinitionError):
    """A name refers to no alert target."""


class SelectionError(AssayError):
    """A selection string is malformed or selects nothing."""


class PartitionKeyError(AssayError):
    """A partition key is malformed or not in its partitions definition."""


class UnknownRunError(AssayError):
    """A run id (or prefix) matches no recorded run, or several."""


class UnknownBackfillError(UnknownRunError):
    """A backfill id (or prefix) matches no recorded backfill, or several."""


class ConfigError(AssayError):
    """Project configuration (pyproject.toml, environment, options) is wrong."""


class PlanError(AssayError):
    """A plan cannot be applied: it is malformed, or the state or code moved since."""


class StateError(AssayError):
    """The state store cannot be read or written."""


class StateLockedError(StateError):
    """Another process holds the state store for longer than we can wait."""


class ObservationError(AssayError):
    """An observe function raised or returned something that is not a version."""


class ExecutorError(AssayError):
    """The executor cannot run steps: its Dask scheduler cannot be reached, or went away."""


class AlertDeliveryError(AssayError):
    """An alert target did not take a message (`assay alerts test`)."""

    exit_code = 1


class MaterializationError(AssayError):
    """User code or I/O failed while materializing an asset."""

    exit_code = 1


class UnknownAutomationError(AssayError):
    """A name refers to no schedule or sensor."""


class RunFailedError(AssayError):
    """A run finished, and some of its steps failed or were skipped."""

    exit_code = 1


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ` Did you mean 'x'?` for the closest candidate, or an empty string."""
    guesses = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {guesses[0]!r}?" if guesses else ""
