"""Long-lived heaps out of the collector's full passes. The daemon's: what is alive
when it is renewed is frozen, nothing dead is, a cycle dropped after a freeze goes
at the next renewal, and closing hands the heap back. A command's: the collector is
paused while the definitions load, and the `assay` program (never a caller's
`CliRunner`) freezes them."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

import assay.heap as heap_module
from assay.cli.main import main
from assay.heap import LongLivedHeap, loading


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


@pytest.fixture
def heap() -> Iterator[LongLivedHeap]:
    held = LongLivedHeap()
    try:
        yield held
    finally:
        held.close()


def test_renewing_freezes_what_is_alive_and_collects_what_is_not(heap):
    _kept, kept_ref = cycle()
    dead, dead_ref = cycle()
    del dead
    assert dead_ref() is not None  # a cycle: only the collector frees it
    heap.renew()
    assert dead_ref() is None
    assert kept_ref() is not None
    assert gc.get_freeze_count() > 0
    # a full collection no longer walks what was frozen: it finds it alive, untouched
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() == before
    assert heap.renewed_s > 0


def test_a_cycle_dropped_after_the_freeze_goes_at_the_next_renewal(heap):
    kept, kept_ref = cycle()
    heap.renew()
    del kept
    gc.collect()
    assert kept_ref() is not None  # frozen: the full pass did not look at it
    heap.renew()
    assert kept_ref() is None


def test_keeping_freezes_again_only_after_a_full_collection(heap):
    heap.renew()
    frozen = gc.get_freeze_count()
    young = [Node() for _ in range(1_000)]
    heap.keep()  # no full collection since: nothing to do
    assert gc.get_freeze_count() == frozen
    gc.collect(2)  # as the collector runs one when enough survives
    dead, dead_ref = cycle()  # young garbage: collected, not frozen
    del dead
    heap.keep()
    assert gc.get_freeze_count() >= frozen + len(young)
    assert dead_ref() is None


def test_closing_hands_the_heap_back():
    heap = LongLivedHeap()
    heap.renew()
    heap.close()
    assert gc.get_freeze_count() == 0
    kept, kept_ref = cycle()
    del kept
    gc.collect()
    assert kept_ref() is None


def test_loading_pauses_the_collector_and_puts_it_back_as_it_was():
    assert gc.isenabled()
    with loading():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with loading():
            pass
        assert not gc.isenabled()  # disabled before: left disabled
    finally:
        gc.enable()


def test_loading_in_assays_own_process_freezes_what_it_made(monkeypatch):
    monkeypatch.setitem(heap_module._process, "owned", True)
    try:
        with loading():
            kept, kept_ref = cycle()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        del kept
        gc.collect()
        assert kept_ref() is not None  # frozen: no collection looks at it
    finally:
        gc.unfreeze()


def test_a_cli_runner_never_freezes_the_callers_heap(make_project):
    make_project("diamond")
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == 0


def test_the_assay_program_freezes_what_its_command_loaded(make_project):
    root = make_project("diamond")
    # the program as the console script runs it, with a look at its heap as it exits
    code = (
        "import atexit, gc, sys; "
        "atexit.register(lambda: print('frozen', gc.get_freeze_count(), file=sys.stderr)); "
        "from assay.cli.main import main; sys.argv = ['assay', 'list']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    frozen = int(done.stderr.split("frozen ")[-1].split()[0])
    assert frozen > 10_000  # the definitions, and the modules they import
