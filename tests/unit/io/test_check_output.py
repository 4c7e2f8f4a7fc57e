import polars as pl
import pytest

from assay import AssetKey
from assay.errors import MaterializationError
from assay.io.base import check_output

FakePandasFrame = type("DataFrame", (), {"__module__": "pandas.core.frame"})


def test_a_polars_frame_passes():
    check_output(AssetKey(("orders",)), pl.DataFrame({"n": [1]}))


def test_a_pandas_frame_names_pandas_and_the_conversion():
    with pytest.raises(MaterializationError) as caught:
        check_output(AssetKey(("orders",)), FakePandasFrame())
    assert str(caught.value) == (
        "asset 'orders' returned a pandas DataFrame; assay stores polars: "
        "return `polars.from_pandas(...)` of it"
    )


def test_anything_else_names_what_to_return():
    with pytest.raises(MaterializationError, match="returned dict; return a polars DataFrame"):
        check_output(AssetKey(("orders",)), {"n": [1]})
