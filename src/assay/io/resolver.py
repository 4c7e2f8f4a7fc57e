"""Which IO manager each asset uses, bound to the project once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.io.parquet import ParquetIO
from assay.resources import built, is_io_manager

__all__ = ["IOResolver", "is_io_manager"]

if TYPE_CHECKING:
    from collections.abc import Mapping

    from assay.config import ProjectConfig
    from assay.io.base import IOManager
    from assay.keys import AssetKey


class IOResolver:
    """Each asset's IO manager, bound to the project once: its own, else the project's
    default, else `ParquetIO` in the project's storage.

    `own` maps each asset key to the IO manager it declares: an instance, the name of
    one of `resources` (`@asset(io="warehouse")`), or None. The project's `resources`
    ride along, so that every executor's steps can build theirs.
    """

    def __init__(
        self,
        own: Mapping[AssetKey, IOManager | str | None],
        default: IOManager | str | None,
        config: ProjectConfig,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        self.own = own
        self.default = default
        self.config = config
        self.resources: Mapping[str, Any] = resources or {}
        self._bound: dict[int, IOManager] = {}

    def __call__(self, key: AssetKey) -> IOManager:
        chosen = self.own[key] or self.default
        name = "io"
        if isinstance(chosen, str):
            name, chosen = chosen, self.resources[chosen]
        return self.bound(chosen, name)

    def bound(self, chosen: IOManager | None, name: str = "io") -> IOManager:
        """`chosen` (None: ParquetIO) built as a resource is (its `EnvVar`s read, its
        `setup()` called if it is a `Resource`) and bound to the project, once per
        instance and process.

        Raises:
            MaterializationError: a variable it reads is not set here.
        """
        slot = 0 if chosen is None else id(chosen)
        if slot not in self._bound:
            made = built(chosen, name) if chosen is not None else ParquetIO()
            self._bound[slot] = made.bind(self.config)
        return self._bound[slot]
