"""JSONIO: JSON values (dict, list, str, numbers, bool, None), one file per partition.

The encoding is canonical (keys sorted, no spaces, UTF-8, no NaN), so equal values
get equal bytes and so equal data versions in any run or process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import MaterializationError
from assay.io.files import FileStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.config import ProjectConfig
    from assay.io.base import InputKind, StoredOutput
    from assay.keys import AssetKey


@dataclass(frozen=True, slots=True)
class JSONIO(FileStore):
    """Store each asset (partition) as a JSON file, `<root>/<key path>/data.json`.

    Takes dict, list, str, int, float, bool and None, nested as JSON allows: what
    comes back is what JSON keeps (a tuple returns as a list, an int dict key as a
    string). Written canonically: keys sorted, no whitespace, UTF-8, NaN and
    infinity refused; so the data version (a hash of the file) is the same for
    equal values. `root` defaults to the project's storage, as for ParquetIO.

    Example:
        >>> from assay import asset, JSONIO
        >>> @asset(io=JSONIO())
        ... def thresholds() -> dict:
        ...     return {"min_amount": 10, "currencies": ["EUR", "USD"]}
    """

    def __init__(self, root: str | Path | None = None) -> None:
        object.__setattr__(self, "root", None if root is None else Path(root))

    def _suffix(self) -> str:
        return ".json"

    @property
    def kind(self) -> str:
        return "json"

    @property
    def stores(self) -> str:
        return "json"

    def bind(self, config: ProjectConfig) -> JSONIO:
        return replace(self, root=self._bound_root(config))

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        content = encode_json(key, value)
        return self._write(key, partition, lambda tmp: tmp.write_bytes(content))

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        """The stored value; several partitions: a dict from partition key to value."""
        return self._read(key, partitions, _decoded)


def encode_json(key: AssetKey, value: Any) -> bytes:
    """The canonical JSON of `value` (see `JSONIO`).

    Raises:
        MaterializationError: a value JSON cannot hold, naming the asset.
    """
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise MaterializationError(
            f"asset {str(key)!r} returned a value JSONIO cannot store ({exc}); return dict, "
            "list, str, numbers, bool or None, or store it with io=PickleIO()"
        ) from exc
    return text.encode()


def _decoded(path: Path) -> Any:
    return json.loads(path.read_bytes())
