"""Where an asset annotated `-> None` "stores" its output: nowhere.

Such an asset is run for its side effects (publish a report, call an API). Each
materialization gets a new data version unless the asset returns
`Output(None, data_version=...)`, so assets that depend on it (`deps=`) see that it
ran again, as in Dagster, where a materialization without a data version gets a new
one. It is fresh until its code or its inputs change, like any asset.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import MaterializationError
from assay.io.base import StoredOutput

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.config import ProjectConfig
    from assay.io.base import InputKind
    from assay.keys import AssetKey


@dataclass(frozen=True, slots=True)
class NothingIO:
    """Stores nothing: the IO manager of an asset annotated `-> None`."""

    @property
    def kind(self) -> str:
        return "none"

    @property
    def stores(self) -> str:
        return "nothing"

    def bind(self, config: ProjectConfig) -> NothingIO:
        return self

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        if value is not None:
            raise MaterializationError(
                f"asset {str(key)!r} is annotated `-> None` but returned "
                f"{type(value).__qualname__}; return None, or annotate what it returns"
            )
        return StoredOutput(
            location="",
            row_count=None,
            byte_size=0,
            data_version=uuid.uuid4().hex,  # always new (see the module docstring)
            columns=(),
        )

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        """None: for `assay check`, whose checks on a side effect look elsewhere."""
        return None if partitions is None else dict.fromkeys(partitions)

    def exists(self, key: AssetKey, partitions: Sequence[str] | None) -> list[bool]:
        """Always: there is nothing to lose."""
        return [True] * (1 if partitions is None else len(partitions))
