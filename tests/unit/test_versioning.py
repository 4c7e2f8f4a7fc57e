import polars as pl

from assay import asset
from assay.versioning import code_version, data_version, source_hash


def _original():
    def transform(orders):
        return orders.filter(pl.col("amount") > 0)

    return transform


def _reformatted():
    def transform(orders):
        """Now documented."""
        # a comment
        return orders.filter(
            pl.col("amount") > 0  # another
        )

    return transform


def _changed():
    def transform(orders):
        return orders.filter(pl.col("amount") >= 0)

    return transform


def test_comments_formatting_and_docstrings_do_not_change_the_code_version():
    assert source_hash(_original()) == source_hash(_reformatted())


def test_changed_logic_changes_the_code_version():
    assert source_hash(_original()) != source_hash(_changed())


def test_explicit_code_version_wins():
    @asset(code_version="3")
    def thing():
        return pl.DataFrame()

    assert code_version(thing) == "3"


def test_data_version_is_deterministic_for_the_same_frame():
    import io

    def parquet_bytes(frame):
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        return buffer.getvalue()

    one = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    same = pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    other = pl.DataFrame({"a": [1, 2, 4], "b": ["x", "y", "z"]})
    assert data_version(parquet_bytes(one)) == data_version(parquet_bytes(same))
    assert data_version(parquet_bytes(one)) != data_version(parquet_bytes(other))
