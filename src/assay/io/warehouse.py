"""One open DuckDB connection per warehouse file on a machine, shared by its processes.

DuckDB lets one process open a file to write, and locks every other process
out while it does, readers included. Opening a warehouse costs ~12 ms and
closing it ~4 ms (a checkpoint), so a connection per partition read or written
made DuckDB IO nearly half of a real pipeline's time. Taking turns does not
fix that across processes: two workers that both read and write the warehouse
every few steps would hand the file back and forth, paying the open and the
close at almost every turn, and each would idle while the other held it.

So the first process that needs the file keeps it, and the others send it
their reads and writes:

- **The keeper.** A process takes the OS lock beside the file (`<file>.lock`,
  exclusive, as every assay process that opens a DuckDB file does, so DuckDB's
  own lock is never contended), opens one connection and keeps both while it
  has work. Its own reads and writes run on that connection directly; a thread
  answers other processes on a Unix socket in a folder only its user can enter
  (`$TMPDIR/assay-<uid>/`, named from the file's real path and assay's
  version). Every operation, its own or another's, runs one at a time, each in
  its own transaction.
- **The others** (a multiprocess or Dask worker, another `assay` on the same
  project) find the lock taken and connect to that socket: a write sends the
  rows (pickled Arrow) and returns once the keeper has committed them, a read
  gets the frame back. Nothing is queued or batched out of sight: a step's
  write is durable when `write` returns, as before.
- **Letting go.** The keeper closes the connection (checkpoint), removes the
  socket and releases the lock when it has had no operation for `IDLE_S`, when
  its run ends (`close_warehouses`), and when its process exits (atexit; a
  spawned worker runs it at pool shutdown). So nothing holds the file after a
  run, and a notebook's `duckdb.connect` succeeds right after it. A killed
  keeper's lock goes with its process and DuckDB replays its log on the next
  open: committed transactions stay, whole.
- **Never stuck, never lost.** Whoever finds the keeper gone (its socket
  closed, refused, or reset) takes the lock or finds the next keeper and sends
  the operation again. That is safe because every operation is idempotent: a
  write replaces its partition (or table) whole, so a write that committed just
  before its keeper died is only written again. A process waits at most
  `WAREHOUSE_TIMEOUT_S` in all for the lock or for an answer, then fails in one
  line naming the process that holds the file (from the kernel's lock table).
- **Taking turns where there is no socket.** A process that can reach neither
  the lock nor a keeper (its keeper runs on another machine of a shared mount,
  or in a container with another temporary folder) says after
  `WAITING_AFTER_S` that it waits, with a shared lock on `<file>.waiting`; a
  keeper looks at that lock after each operation (two system calls) and, when
  someone waits, closes the file and lets it be taken before it asks again.
  Between such processes the file changes hands at each operation, paying
  the open and the close as before; between processes of one machine it never
  does.

Within its tenure the keeper is the only assay process that touches the file,
so what it learned (a table exists, which key owns it) stays true while it
holds it: `run` hands each operation a `session` dict to remember it in, emptied
when the connection closes, and after any failed operation (another connection
of the same process may have changed the file; one DuckDB error in an operation
that relied on the session runs it once more with an empty one).

A program other than assay holding the file (a notebook's `duckdb.connect`)
makes the operation fail at once, naming it, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import os
import pickle
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assay.errors import MaterializationError
from assay.locking import ReadOnlyError, foreign_holder, holders_of, lock_path_for
from assay.version import __version__

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

WAREHOUSE_TIMEOUT_S = 60.0  # the longest an operation waits for the file or an answer
IDLE_S = 1.0  # a keeper with no operation for this long lets the file go
# A process that has neither the lock nor a keeper's socket for this long says it is
# waiting (a shared lock on `<file>.waiting`); the keeper then hands the file over
# after its current operation, and waits this long again before it takes it back.
WAITING_AFTER_S = 0.25
HANDOVER_GRACE_S = 0.05
TAKING_TURNS_S = 5.0  # after a hand-over, how long this process says at once it waits

T = TypeVar("T")
Session = dict[str, Any]

_HEADER = struct.Struct("!Q")
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


class _KeeperGone(Exception):
    """The keeper closed or died before answering: find the next one and ask again."""


class Warehouse:
    """This process's way to one warehouse file: as its keeper, or through the keeper."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = lock_path_for(path)
        self._waiting_path = path.with_name(path.name + ".waiting")
        self._address = _socket_address(path)
        self._handed_over_at = -HANDOVER_GRACE_S
        # One operation of this process at a time, whoever runs it (also held by the
        # keeper's threads while they answer another process).
        self._mutex = threading.Lock()
        self._keeper: _Keeper | None = None
        self._client: socket.socket | None = None

    def run(self, operation: Callable[..., T], *args: Any) -> T:
        """`operation(connection, session, *args)`, here or in the keeper's process.

        `operation` must be a module-level function (it is pickled by name) and
        idempotent: it may run again after its keeper died.

        Raises:
            MaterializationError: the file stayed busy for `WAREHOUSE_TIMEOUT_S`, or
                another program holds it open.
            ReadOnlyError: its folder cannot be written, so it cannot be kept.
        """
        deadline = time.monotonic() + WAREHOUSE_TIMEOUT_S
        if not self._mutex.acquire(timeout=WAREHOUSE_TIMEOUT_S):
            raise self._busy("this process")
        try:
            while True:
                if self._keeper is not None and self._keeper.closed:
                    self._keeper = None
                if self._keeper is None and self._client is None:
                    self._attach(deadline)
                if self._keeper is not None:
                    try:
                        return self._keeper.call(operation, args)
                    finally:
                        self._keeper.hand_over_if_wanted()
                try:
                    return self._ask(operation, args, deadline)
                except _KeeperGone:
                    self._drop_client()
                    if time.monotonic() >= deadline:
                        raise self._busy(holders_of(self._lock_path)) from None
        finally:
            self._mutex.release()

    def close(self) -> None:
        """Let the file go now: close the connection (keeper) or the socket (client)."""
        with self._mutex:
            if self._keeper is not None:
                self._keeper.close()
                self._keeper = None
            self._drop_client()

    @property
    def is_kept_here(self) -> bool:
        """Whether this process holds the file open now."""
        return self._keeper is not None and not self._keeper.closed

    # --- finding the keeper, or becoming it ------------------------------------------

    def _attach(self, deadline: float) -> None:
        """Take the lock and keep the file, or connect to its keeper; a process that can
        do neither for WAITING_AFTER_S (its keeper is on another machine of a shared
        mount, or has no socket) says it is waiting, so the keeper hands the file over."""
        grace_s = self._handed_over_at + HANDOVER_GRACE_S - time.monotonic()
        if grace_s > 0:  # let the process we handed the file to take it first
            time.sleep(grace_s)
        started = time.monotonic()
        # Having just handed the file over, this process knows the others cannot reach
        # it through a socket: it says it is waiting at once (they take turns).
        recently = started - self._handed_over_at < TAKING_TURNS_S
        waiting_after_s = 0.0 if recently else WAITING_AFTER_S
        waiting: int | None = None
        delay_s = 0.001
        try:
            while True:
                fd = _take_lock(self._lock_path)
                if fd is not None:
                    self._keeper = _Keeper(self, fd)
                    return
                if self._address is not None:
                    self._client = _connect(self._address)
                    if self._client is not None:
                        return
                now = time.monotonic()
                if now >= deadline:
                    raise self._busy(holders_of(self._lock_path))
                if waiting is None and now - started >= waiting_after_s:
                    waiting = _say_waiting(self._waiting_path)
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.005 if waiting is not None else 0.05)
        finally:
            if waiting is not None:
                os.close(waiting)

    def _ask(self, operation: Callable[..., T], args: tuple[Any, ...], deadline: float) -> T:

        client = self._client
        assert client is not None
        try:
            _send_bytes(client, _dumps((operation, args)), deadline)
            answered, value = _receive(client, deadline)
        except TimeoutError:
            self._drop_client()  # its answer would come to the next question
            raise MaterializationError(
                f"the warehouse {self.path} is held by {holders_of(self._lock_path)}, which "
                f"has not answered for {WAREHOUSE_TIMEOUT_S:g} s: stop it if it is stuck"
            ) from None
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            raise _KeeperGone from exc
        if answered:
            return value  # type: ignore[no-any-return]
        raise value

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(OSError):
                self._client.close()
            self._client = None

    def _busy(self, holder: str) -> MaterializationError:
        return MaterializationError(
            f"the warehouse {self.path} is busy: {holder} has held it for over "
            f"{WAREHOUSE_TIMEOUT_S:g} s; wait for it to finish, or stop it if it is stuck"
        )


class _Keeper:
    """The open connection, the lock that guards it, and the thread answering others."""

    def __init__(self, warehouse: Warehouse, lock_fd: int) -> None:
        import duckdb

        self.warehouse = warehouse
        self.closed = False
        self.session: Session = {}
        self.last_used = time.monotonic()
        self._lock_fd = lock_fd
        _close_at_exit()  # registered after duckdb's own exit hook, so run before it
        try:
            self.con = duckdb.connect(str(warehouse.path))
        except duckdb.Error as exc:
            _release_lock(lock_fd)
            holder = foreign_holder(exc)
            if holder:
                raise MaterializationError(
                    f"the warehouse {warehouse.path} is held open by {holder}; "
                    "close that connection and retry"
                ) from exc
            raise MaterializationError(
                f"cannot open the warehouse {warehouse.path}: {exc}"
            ) from exc
        self._waiting_fd = _open_waiting(warehouse._waiting_path)
        self._clients: set[socket.socket] = set()
        self._listener = _listen(warehouse._address)
        threading.Thread(target=self._serve, name="assay-warehouse", daemon=True).start()

    def call(self, operation: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run `operation` on the connection; the caller holds the warehouse's mutex."""
        import duckdb

        relied = bool(self.session)
        try:
            try:
                return operation(self.con, self.session, *args)
            except duckdb.Error:
                if not relied:
                    raise
                self.session.clear()  # what it remembered may be stale: once more, afresh
                return operation(self.con, self.session, *args)
        except BaseException:
            self.session.clear()
            raise
        finally:
            self.last_used = time.monotonic()

    def hand_over_if_wanted(self) -> None:
        """Close, so another process can take the file, when one says it is waiting;
        the caller holds the warehouse's mutex."""
        if self.closed or self._waiting_fd is None:
            return
        try:
            fcntl.flock(self._waiting_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # someone holds it shared: waiting for the file
            self.close()
            self.warehouse._handed_over_at = time.monotonic()
        except OSError:
            return
        else:
            fcntl.flock(self._waiting_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Stop answering, close the connection and release the lock; the caller holds
        the warehouse's mutex, so no operation is running."""
        if self.closed:
            return
        self.closed = True
        import socket

        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):  # before the lock goes: the next keeper's
                os.unlink(str(self.warehouse._address))
        for client in list(self._clients):
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        try:
            self.con.close()
        finally:
            self.session.clear()
            if self._waiting_fd is not None:
                os.close(self._waiting_fd)
            _release_lock(self._lock_fd)

    def _serve(self) -> None:
        """Accept other processes (if there is a socket) and let go of the file once idle."""

        listener = self._listener
        try:
            while not self.closed:
                if listener is None:
                    time.sleep(IDLE_S / 4)
                else:
                    try:
                        client, _ = listener.accept()
                    except TimeoutError:
                        pass
                    except OSError:
                        return  # shut down by close()
                    else:
                        self._clients.add(client)
                        threading.Thread(target=self._answer, args=(client,), daemon=True).start()
                        continue
                self._close_if_idle()
        finally:
            if listener is not None:
                listener.close()

    def _close_if_idle(self) -> None:
        if time.monotonic() - self.last_used < IDLE_S:
            return
        mutex = self.warehouse._mutex
        if not mutex.acquire(blocking=False):
            return  # an operation is running or about to: not idle
        try:
            if not self.closed and time.monotonic() - self.last_used >= IDLE_S:
                self.close()
        finally:
            mutex.release()

    def _answer(self, client: socket.socket) -> None:
        """Run another process's operations, one request at a time, until it hangs up."""
        try:
            while not self.closed:
                try:
                    operation, args = _receive(client, None)
                except (OSError, EOFError, pickle.UnpicklingError):
                    return
                with self.warehouse._mutex:
                    if self.closed:
                        return  # unanswered: the client asks the next keeper
                    try:
                        reply = _dumps((True, self.call(operation, args)))
                    except Exception as exc:
                        reply = _dumps((False, _portable(exc)))
                try:
                    _send_bytes(client, reply, None)
                except OSError:
                    return
                with self.warehouse._mutex:
                    self.hand_over_if_wanted()
        finally:
            self._clients.discard(client)
            client.close()


# --- this process's warehouses ---------------------------------------------------------

_WAREHOUSES: dict[str, Warehouse] = {}  # by real path, and by each path it was asked by
_REGISTRY = threading.Lock()


def warehouse_for(path: Path) -> Warehouse:
    """This process's `Warehouse` for the file at `path` (one per real path)."""
    given = str(path)
    found = _WAREHOUSES.get(given)
    if found is not None:
        return found
    real = os.path.realpath(path)
    with _REGISTRY:
        found = _WAREHOUSES.get(real)
        if found is None:
            found = _WAREHOUSES[real] = Warehouse(Path(real))
        _WAREHOUSES[given] = found
        return found


def close_warehouses() -> None:
    """Let every warehouse file this process holds go: at a run's end, and at exit."""
    with _REGISTRY:
        held = set(_WAREHOUSES.values())
    for warehouse in held:
        warehouse.close()


_EXIT_HOOKED = threading.Event()


def _close_at_exit() -> None:
    """Close at exit, while queries still run: duckdb's own exit hook (registered when
    it is imported) stops queries that read Python objects, and atexit runs hooks last
    registered first. A spawned pool's worker runs them too, at pool shutdown."""
    if not _EXIT_HOOKED.is_set():
        _EXIT_HOOKED.set()
        atexit.register(close_warehouses)


def _forget_in_child() -> None:
    """A forked child must neither use nor close its parent's connection (closing would
    checkpoint the parent's file) nor release its lock: it starts with none."""
    global _REGISTRY
    _ORPHANED.extend(_WAREHOUSES.values())  # kept alive: collecting them would close them
    _WAREHOUSES.clear()
    _REGISTRY = threading.Lock()


_ORPHANED: list[Warehouse] = []
os.register_at_fork(after_in_child=_forget_in_child)


# --- locks, sockets, messages ----------------------------------------------------------


def _take_lock(lock_path: Path) -> int | None:
    """The exclusive OS lock beside the file, as an open descriptor, or None when held.

    Raises:
        ReadOnlyError: the lock file cannot be created or written.
    """
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in _READ_ONLY:
            raise ReadOnlyError(
                f"{lock_path.parent} cannot be written ({exc.strerror}): a warehouse there "
                "can only be read"
            ) from exc
        raise MaterializationError(f"cannot use {lock_path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _open_waiting(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


def _say_waiting(path: Path) -> int | None:
    """A shared lock on `<file>.waiting`, held while this process waits for the file."""
    fd = _open_waiting(path)
    if fd is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:  # a keeper is looking at it this instant: say it on the next turn
        os.close(fd)
        return None
    return fd


def _release_lock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _socket_address(path: Path) -> str | None:
    """Where the keeper of `path` answers: a socket in a folder only this user can
    enter, or None (no such folder; then the others wait for the lock instead)."""
    import stat
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"assay-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        return None
    digest = hashlib.sha256(f"{__version__}\0{path}".encode()).hexdigest()[:32]
    address = str(folder / f"warehouse-{digest}.sock")
    return address if len(address.encode()) < 100 else None  # sun_path holds 104-108


def _listen(address: str | None) -> socket.socket | None:
    import socket

    if address is None:
        return None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)  # a dead keeper's: we hold the lock, so no live one uses it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address)
        listener.listen(16)
    except OSError:
        listener.close()
        return None
    listener.settimeout(IDLE_S / 4)
    return listener


def _connect(address: str) -> socket.socket | None:
    import socket

    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(address)
    except OSError:  # none yet (between lock and listen), or a dead keeper's socket
        client.close()
        return None
    return client


def _dumps(message: object) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _send_bytes(sock: socket.socket, data: bytes, deadline: float | None) -> None:
    if deadline is None:
        sock.settimeout(None)
    else:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
    sock.sendall(_HEADER.pack(len(data)))
    sock.sendall(data)


def _receive(sock: socket.socket, deadline: float | None) -> Any:
    header = _read_exactly(sock, _HEADER.size, deadline)
    (size,) = _HEADER.unpack(header)
    return pickle.loads(_read_exactly(sock, size, deadline))


def _read_exactly(sock: socket.socket, size: int, deadline: float | None) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    done = 0
    while done < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        else:
            sock.settimeout(None)
        got = sock.recv_into(view[done:])
        if not got:
            raise EOFError
        done += got
    return data


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives pickling, else a MaterializationError saying what it was."""
    try:
        pickle.loads(_dumps(exc))
    except Exception:
        return MaterializationError(f"{type(exc).__name__}: {exc}")
    return exc
