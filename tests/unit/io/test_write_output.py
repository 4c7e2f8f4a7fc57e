"""A step tells a full rewrite to IO managers whose `write` takes it, and only to them."""

from assay import AssetKey
from assay.io.base import StoredOutput, write_output

KEY = AssetKey.parse("orders")
STORED = StoredOutput(location="x", row_count=0, byte_size=0, data_version="v", columns=())


class Plain:
    """An IO manager as docs/architecture.md shows one: `write(key, partition, value)`."""

    def write(self, key, partition, value):
        self.called = (key, partition, value)
        return STORED


class SharesASchema(Plain):
    def write(self, key, partition, value, *, full_rewrite_run_id=None):
        self.called = (key, partition, value, full_rewrite_run_id)
        return STORED


def test_an_io_manager_without_the_keyword_is_called_as_before():
    io = Plain()
    assert write_output(io, KEY, "eu", "v", full_rewrite_run_id="run-1") is STORED
    assert io.called == (KEY, "eu", "v")


def test_an_io_manager_with_the_keyword_gets_the_run_of_a_full_rewrite():
    io = SharesASchema()
    write_output(io, KEY, "eu", "v", full_rewrite_run_id="run-1")
    assert io.called == (KEY, "eu", "v", "run-1")
    write_output(io, KEY, "eu", "v", full_rewrite_run_id=None)
    assert io.called == (KEY, "eu", "v", None)
