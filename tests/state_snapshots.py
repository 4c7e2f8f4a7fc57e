"""Compare a state store with the journals it was indexed from."""

import gzip
from pathlib import Path

import duckdb

from assay.state.bundles import is_bundle
from assay.state.bundles import journals as bundled
from assay.state.store import StateStore

# How indexing went, not what it holds: which pass wrote each row (and how many there
# were, in which store), and the order the latest attempts were written in, depend on
# how journals were batched.
BOOKKEEPING = {
    "store_passes": None,
    "asset_partitions": "index_pass",
    "partition_attempts": "seq",
}


def snapshot(db_path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, sorted (without the passes' bookkeeping)."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' ORDER BY table_name"
            ).fetchall()
        ]
        return {
            name: con.execute(
                f'SELECT * EXCLUDE ({BOOKKEEPING[name]}) FROM "{name}" ORDER BY ALL'
                if BOOKKEEPING.get(name)
                else f'SELECT * FROM "{name}" ORDER BY ALL'
            ).fetchall()
            for name in names
            if name not in BOOKKEEPING or BOOKKEEPING[name]
        }


def journal_bytes(path: Path) -> bytes:
    """A journal's records, compressed (archived in done/) or not; a bundle's, all of
    its journals'."""
    if is_bundle(path):
        return b"".join(data for _, data in bundled(path))
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def done_journals(home: Path) -> list[Path]:
    """The archived journals of a state home (`journal/done/*.jsonl.gz`, and bundles)."""
    return sorted(home.joinpath("journal", "done").glob("*.jsonl*"))


def every_journal(home: Path) -> list[Path]:
    """Every journal of a state home: live ones and those archived in done/."""
    return sorted([*home.joinpath("journal").glob("*.jsonl"), *done_journals(home)])


def copy_journals(home: Path, into: Path) -> list[Path]:
    """Copy every journal of `home` (done/ included, uncompressed) flat into
    `into/journal/`, oldest first (by the order their runs wrote them)."""
    target = into / "journal"
    target.mkdir(parents=True)
    copied = []
    found = [*home.joinpath("journal").rglob("*.jsonl"), *done_journals(home)]
    for path in sorted(set(found), key=lambda p: p.stat().st_mtime):
        held = bundled(path) if is_bundle(path) else [(path.name.removesuffix(".gz"), None)]
        for name, data in held:
            (target / name).write_bytes(journal_bytes(path) if data is None else data)
            copied.append(target / name)
    return copied


def rebuilt(home: Path, scratch: Path) -> dict[str, list[tuple]]:
    """The tables a store indexed from scratch out of `home`'s journals holds."""
    copy_journals(home, scratch)
    StateStore(scratch).index_pending()
    return snapshot(scratch / "assay.duckdb")


def assert_state_equals_journals(home: Path, scratch: Path) -> None:
    """The store of `home` holds exactly what a rebuild from its journals holds."""
    StateStore(home).index_pending()
    found, expected = snapshot(home / "assay.duckdb"), rebuilt(home, scratch)
    assert found.keys() == expected.keys()
    for table in found:
        assert found[table] == expected[table], f"table {table} differs from a rebuild"
