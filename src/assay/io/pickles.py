"""PickleIO: any picklable Python object, one file per partition.

Warning: loading a pickle runs code that the pickle names. Load only pickles your
own assets wrote, into a storage folder nobody else can write to.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import DefinitionError, MaterializationError
from assay.io.files import FileStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.config import ProjectConfig
    from assay.io.base import InputKind, StoredOutput
    from assay.keys import AssetKey

PROTOCOL = 5  # fixed, so the bytes (and data versions) do not change with Python's default


@dataclass(frozen=True, slots=True)
class PickleIO(FileStore):
    """Store each asset (partition) as a pickle, `<root>/<key path>/data.pkl`.

    For objects no other IO manager stores: a fitted model, a class of your own.

    Warning:
        Unpickling runs code: a pickle can do anything your user can when it is
        loaded. Load only pickles your own assets wrote, in storage that nobody else
        can write to. Pickles are also tied to the Python version and to the classes
        and library versions that wrote them: after an upgrade or a renamed class,
        materialize the asset again rather than trusting an old pickle.

    The data version is a hash of the pickle's bytes: equal for values that pickle
    to equal bytes (most do; a `set` of strings pickles in an order that varies
    between processes, so its version may too). Classes must be importable by name
    (defined at the top of a module) for a worker process to load them.

    Example:
        >>> from assay import asset, PickleIO
        >>> @asset(io=PickleIO())
        ... def model() -> object:
        ...     return {"weights": (0.5, 1.5)}
    """

    protocol: int = PROTOCOL

    def __init__(self, root: str | Path | None = None, *, protocol: int = PROTOCOL) -> None:
        if not isinstance(protocol, int) or not 2 <= protocol <= pickle.HIGHEST_PROTOCOL:
            raise DefinitionError(
                f"PickleIO(protocol={protocol!r}): give a protocol from 2 to "
                f"{pickle.HIGHEST_PROTOCOL} (default {PROTOCOL})"
            )
        object.__setattr__(self, "root", None if root is None else Path(root))
        object.__setattr__(self, "protocol", protocol)

    def _suffix(self) -> str:
        return ".pkl"

    @property
    def kind(self) -> str:
        return "pickle"

    @property
    def stores(self) -> str:
        return "objects"

    def bind(self, config: ProjectConfig) -> PickleIO:
        return replace(self, root=self._bound_root(config))

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        try:
            content = pickle.dumps(value, protocol=self.protocol)
        except Exception as exc:  # PicklingError, or TypeError/AttributeError of local objects
            raise MaterializationError(
                f"asset {str(key)!r} returned a value that cannot be pickled "
                f"({type(exc).__name__}: {exc}); define its class at the top of a module"
            ) from exc
        return self._write(key, partition, lambda tmp: tmp.write_bytes(content))

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        """The unpickled value; several partitions: a dict from partition key to value."""
        return self._read(key, partitions, _unpickled)


def _unpickled(path: Path) -> Any:
    with path.open("rb") as stream:
        return pickle.load(stream)
