"""Claims that hold across the processes of one state home, on one host.

Run keys: a run key (`schedule:nightly:2024-06-01T06:00:00+00:00`, `--run-key K`)
runs at most once, whatever crashes, restarts and concurrent callers do. The
first caller creates `<home>/run_keys/<digest>.<generation>.json` exclusively
(O_EXCL), naming the run id it will launch; any later caller finds it and is
told which run holds the key. A failed run can be retried under its key on
purpose: a new generation, created only by the one caller that names the run
it replaces.

Asset partitions: a live run holds an OS lock on `<home>/claims/<run id>.json`,
which lists the asset partitions it computes; the lock goes with its process.
A run that starts takes `<home>/claims.lock`, reads the claims of every live
run, subtracts what they hold from what it would compute, writes its own, and
lets go: two runs never compute one asset partition at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import StateError
from assay.locking import file_lock

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

RUN_KEYS = "run_keys"
CLAIMS = "claims"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunKeyClaim:
    """Who holds a run key: the run launched (or to be launched) under it."""

    run_key: str
    run_id: str
    generation: int
    claimed_at: float
    is_new: bool  # this caller created it (False: someone else holds the key)


def claim_run_key(home: Path, run_key: str, run_id: str) -> RunKeyClaim:
    """Claim `run_key` for `run_id`, or find who holds it.

    Raises:
        StateError: the claim cannot be written (a full disk, a read-only home).
    """
    folder, digest = home / RUN_KEYS, _digest(run_key)
    latest = _latest(folder, digest)
    if latest is not None:
        return latest
    return _create(folder, digest, run_key, run_id, 1) or _must(_latest(folder, digest))


def retry_run_key(home: Path, run_key: str, run_id: str, *, replacing: str) -> RunKeyClaim:
    """Claim the next generation of `run_key` for `run_id`, in place of the run
    `replacing` (which must hold it now). Of two callers replacing the same run,
    one gets the key; the other is told who did.

    Raises:
        StateError: `replacing` does not hold the key.
    """
    folder, digest = home / RUN_KEYS, _digest(run_key)
    latest = _latest(folder, digest)
    if latest is None or latest.run_id != replacing:
        holder = "nobody" if latest is None else f"run {latest.run_id[:8]}"
        raise StateError(
            f"run key {run_key!r} is held by {holder}, not by run {replacing[:8]}: "
            "retry the run that holds it"
        )
    created = _create(folder, digest, run_key, run_id, latest.generation + 1)
    return created or _must(_latest(folder, digest))


def run_key_holder(home: Path, run_key: str) -> RunKeyClaim | None:
    """Who holds `run_key` now (None: nobody claimed it)."""
    return _latest(home / RUN_KEYS, _digest(run_key))


def run_key_claims(home: Path) -> list[RunKeyClaim]:
    """Every run key's latest claim (for recovery: claims whose run never started)."""
    folder = home / RUN_KEYS
    latest: dict[str, RunKeyClaim] = {}
    for path in folder.glob("*.json") if folder.is_dir() else ():
        claim = _read(path)
        if claim is not None:
            held = latest.get(claim.run_key)
            if held is None or claim.generation > held.generation:
                latest[claim.run_key] = claim
    return sorted(latest.values(), key=lambda c: c.claimed_at)


def forget_run_keys(home: Path, run_ids: set[str]) -> int:
    """Delete the run key claims held by these runs (`assay state prune`: their runs
    are forgotten, so their keys may run again); returns how many went. A claim of
    any other run, live, recent or never started, stays."""
    folder = home / RUN_KEYS
    forgotten = 0
    for path in folder.glob("*.json") if folder.is_dir() and run_ids else ():
        claim = _read(path)
        if claim is not None and claim.run_id in run_ids:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                forgotten += 1
    return forgotten


def _digest(run_key: str) -> str:
    return hashlib.sha256(run_key.encode()).hexdigest()[:32]


def _latest(folder: Path, digest: str) -> RunKeyClaim | None:
    found = None
    for path in folder.glob(f"{digest}.*.json") if folder.is_dir() else ():
        claim = _read(path)
        if claim is not None and (found is None or claim.generation > found.generation):
            found = claim
    return found


def _read(path: Path) -> RunKeyClaim | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # being written (an O_EXCL file is empty for a moment): not yet a claim
    return RunKeyClaim(
        run_key=str(data["run_key"]),
        run_id=str(data["run_id"]),
        generation=int(data["generation"]),
        claimed_at=float(data["claimed_at"]),
        is_new=False,
    )


def _create(
    folder: Path, digest: str, run_key: str, run_id: str, generation: int
) -> RunKeyClaim | None:
    """The claim, created here; None when another caller created it first."""
    at = time.time()
    body = json.dumps(
        {"run_key": run_key, "run_id": run_id, "generation": generation, "claimed_at": at}
    ).encode()
    hidden = folder / f".{digest}.{generation}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        hidden.write_bytes(body)
        with open(hidden, "rb") as file:
            os.fsync(file.fileno())
        try:
            os.link(hidden, folder / f"{digest}.{generation}.json")  # exclusive, and whole
        except FileExistsError:
            return None
        finally:
            hidden.unlink(missing_ok=True)
    except OSError as exc:
        raise StateError(
            f"cannot claim run key {run_key!r} in {folder}: {exc.strerror or exc}; give assay a "
            "writable state folder"
        ) from exc
    return RunKeyClaim(
        run_key=run_key, run_id=run_id, generation=generation, claimed_at=at, is_new=True
    )


def _must(claim: RunKeyClaim | None) -> RunKeyClaim:
    if claim is None:  # pragma: no cover - it exists: we just failed to create it
        raise StateError("a run key claim vanished while it was read: retry")
    return claim


# --- asset partitions ------------------------------------------------------------------

Ranges = dict[str, list[list[str]] | None]  # asset key -> key ranges (None: unpartitioned)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveClaim:
    """What a live run computes."""

    run_id: str
    pid: int
    targets: Ranges


@contextlib.contextmanager
def partition_claims(home: Path, run_id: str, wanted: Ranges) -> Iterator[list[LiveClaim]]:
    """Hold a claim on `wanted` for the block, after reading what live runs hold.

    Yields the live claims of other runs, read under `<home>/claims.lock` and
    before this one was written: the caller leaves out what they hold. The
    claim is released when the block ends, or when this process dies.
    """
    folder = home / CLAIMS
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{run_id}.json", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(
            f"cannot claim asset partitions in {folder}: {exc.strerror or exc}; give assay a "
            "writable state folder"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with file_lock(home / "claims", exclusive=True, timeout_s=30.0):
            others = live_claims(home, besides=run_id)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps({"pid": os.getpid(), "targets": wanted}).encode(), 0)
            except OSError as exc:
                raise StateError(
                    f"cannot record what this run computes in {folder}: {exc.strerror or exc}; "
                    "free space there (or give assay a writable state folder) and run again"
                ) from exc
        yield others
    finally:
        with contextlib.suppress(OSError):
            (folder / f"{run_id}.json").unlink()
        os.close(fd)


def live_claims(home: Path, *, besides: str | None = None) -> list[LiveClaim]:
    """The claims of runs alive now (a file whose lock is free is a dead run's: removed)."""
    folder = home / CLAIMS
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        run_id = path.stem
        if run_id == besides:
            continue
        claim = _live(path)
        if claim is not None:
            found.append(claim)
    return found


def _live(path: Path) -> LiveClaim | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its run is alive
            data = json.loads(os.pread(fd, 1 << 24, 0) or b"{}")
            return LiveClaim(
                run_id=path.stem, pid=int(data.get("pid", 0)), targets=dict(data.get("targets", {}))
            )
        with contextlib.suppress(OSError):
            path.unlink()  # a dead run's claim
        return None
    except ValueError:
        return None
    finally:
        os.close(fd)
