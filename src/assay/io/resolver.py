"""Which IO manager each asset uses, bound to the project once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.io.parquet import ParquetIO

if TYPE_CHECKING:
    from collections.abc import Mapping

    from assay.config import ProjectConfig
    from assay.io.base import IOManager
    from assay.keys import AssetKey


class IOResolver:
    """Each asset's IO manager, bound to the project once: its own, else the project's
    default, else `ParquetIO` in the project's storage.

    `own` maps each asset key to the IO manager it declares (None: none).
    """

    def __init__(
        self,
        own: Mapping[AssetKey, IOManager | None],
        default: IOManager | None,
        config: ProjectConfig,
    ) -> None:
        self.own = own
        self.default = default
        self.config = config
        self._bound: dict[int, IOManager] = {}

    def __call__(self, key: AssetKey) -> IOManager:
        chosen = self.own[key] or self.default
        slot = 0 if chosen is None else id(chosen)
        if slot not in self._bound:
            self._bound[slot] = (chosen or ParquetIO()).bind(self.config)
        return self._bound[slot]
