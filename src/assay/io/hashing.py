"""Data versions: the xxh3-128 hash of the bytes an IO manager stores.

Polars writes byte-identical Parquet for the same frame, so identical content
gets identical versions across processes and runs (with one polars version;
its chunk layout can change the bytes). `assay.versioning` re-exports both.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def data_version(content: bytes) -> str:
    """The data version of stored bytes (see the module docstring)."""
    import xxhash

    return str(xxhash.xxh3_128_hexdigest(content))


_CHUNK_BYTES = 4 << 20


def file_data_version(path: Path | str) -> tuple[str, int]:
    """The data version of a stored file, read in chunks, and its size in bytes.

    The same version as `data_version` of the file's bytes, without holding them.
    """
    import xxhash

    digest = xxhash.xxh3_128()
    size = 0
    with open(path, "rb", buffering=0) as stream:
        # as large as the file, up to a chunk: zeroing 4 MiB for a small file cost
        # more than hashing it
        buffer = bytearray(max(1, min(_CHUNK_BYTES, os.fstat(stream.fileno()).st_size)))
        view = memoryview(buffer)
        while read := stream.readinto(buffer):
            digest.update(view[:read])
            size += read
    return str(digest.hexdigest()), size
