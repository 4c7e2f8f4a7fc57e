"""What the planner reads of the stored state: a protocol, so that planning needs no
DuckDB to be tested (a fake fed with arrays will do) and a UI or a daemon can plan
from state it keeps in memory.

`assay.state.reader.StateReader` is the implementation on the state store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np

    from assay.state.models import StateMark


class PlanningState(Protocol):
    def planning_columns(
        self,
        assets: list[dict[str, Any]],
        keysets: Mapping[str, Any],
        *,
        since_seq: int | None = None,
    ) -> dict[str, np.ndarray]:
        """The stored state of every known asset partition as numeric columns.

        `assets` rows: asset_key, ordinal, keyset, code_version, inputs_signature
        (the current ones), is_source; `keysets` columns: keyset and idx (int64
        arrays), partition_key (a list of str), one entry per key of each keyset.
        Returns the columns ordinal, idx (which asset partition), started, changed
        and updated (the state clock's `seq`: before the stored materialization read
        its inputs; when its data version last changed; when it was recorded; an
        implementation without `updated` has it taken as `started`), code_ok and sig_ok (stored
        equals current), absent (a source partition whose latest observation
        recorded its absence). Partitions whose key is not in their asset's keyset
        are left out; with `since_seq`, so are those recorded (`seq`) before it.
        """
        ...

    def stored_counts(self, asset_keys: list[str]) -> dict[str, int]:
        """How many partitions of each asset are stored, whatever their keys."""
        ...

    def read_counts(self, asset_key: str, upstream_key: str) -> tuple[list[str], np.ndarray]:
        """Per stored partition of `asset_key` (its keys, and a float array): how many
        partitions of `upstream_key` its materialization read (its provenance; NaN
        where not recorded)."""
        ...

    def stored_versions(self, asset_key: str) -> list[tuple[str, str | None, str | None]]:
        """(partition key, code version, inputs signature) of each stored partition."""
        ...

    def stored_configs(self, asset_key: str) -> dict[str, str | None]:
        """The configuration (JSON) each stored partition was materialized with."""
        ...

    def state_mark(self, asset_keys: list[str]) -> StateMark:
        """Where the stored state of these assets stands (see `StateMark`)."""
        ...
