"""Asset keys, and the validation of asset and partition keys.

Both kinds of key become path segments under the storage folder and values in
SQL, so both are validated where they enter: nothing a user types can escape
the storage folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import DefinitionError, PartitionKeyError

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
_PARTITION_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")

MAX_KEY_BYTES = 200
"""The longest asset key segment or partition key, in UTF-8 bytes. Each becomes one
path component (a folder `<segment>`, a folder `partition=<key>`, failure cases in
`.<key>.parquet.<id>.tmp`), and filesystems allow 255 bytes per component."""


@dataclass(frozen=True, slots=True, order=True)
class AssetKey:
    """The name of an asset: a path of segments, written `sales/daily_revenue`.

    >>> AssetKey.parse("sales/daily_revenue").name
    'daily_revenue'
    """

    path: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.path:
            raise DefinitionError("an asset key needs at least one segment, got an empty key")
        for segment in self.path:
            if not isinstance(segment, str) or not _SEGMENT.match(segment):
                raise DefinitionError(
                    f"invalid asset key segment {segment!r} in {'/'.join(map(str, self.path))!r}: "
                    "use letters, digits, '_' and '-', starting with a letter or '_'"
                )
            if len(segment) > MAX_KEY_BYTES:  # ASCII only: characters are bytes
                raise DefinitionError(
                    f"asset key segment {_clipped(segment)!r} is {len(segment)} characters "
                    f"long; the limit is {MAX_KEY_BYTES}, as each segment becomes a folder: "
                    "shorten it"
                )

    @classmethod
    def parse(cls, text: str | AssetKey | tuple[str, ...] | list[str]) -> AssetKey:
        """Build a key from `"a/b"`, a sequence of segments, or a key."""
        if isinstance(text, AssetKey):
            return text
        if isinstance(text, tuple | list):
            return cls(tuple(text))
        return cls(tuple(text.split("/")))

    @property
    def name(self) -> str:
        """The last segment: what inputs are matched by."""
        return self.path[-1]

    def with_prefix(self, prefix: tuple[str, ...]) -> AssetKey:
        return AssetKey((*prefix, *self.path))

    def __str__(self) -> str:
        return "/".join(self.path)


def validate_partition_key(key: str) -> str:
    """Return `key` if it is safe as a path segment and a SQL value, else raise."""
    if not isinstance(key, str) or not key:
        raise PartitionKeyError(f"invalid partition key {key!r}: a partition key cannot be empty")
    if key in (".", "..") or _PARTITION_FORBIDDEN.search(key):
        raise PartitionKeyError(
            f"invalid partition key {key!r}: it may not be '.' or '..' "
            "nor contain '/', '\\' or control characters"
        )
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise PartitionKeyError(
            f"partition key {_clipped(key)!r} is {size} bytes long (UTF-8); the limit is "
            f"{MAX_KEY_BYTES} bytes, as it becomes the folder `partition=<key>`: shorten it"
        )
    return key


def _clipped(text: str, keep: int = 40) -> str:
    """The start of a long text, for a message that must stay one line."""
    return text if len(text) <= keep else text[:keep] + "…"


def check_name(value: object, what: str, where: str) -> str:
    """A name of a group, tag, schedule or sensor: one key segment (letters, digits,
    '_' and '-', not starting with a digit or '-').

    Raises:
        DefinitionError: it is not.
    """
    try:
        AssetKey((value,))  # type: ignore[arg-type]
    except (DefinitionError, TypeError):
        raise DefinitionError(
            f"{where}: invalid {what} {value!r}: use letters, digits, '_' and '-'"
        ) from None
    assert isinstance(value, str)
    return value
