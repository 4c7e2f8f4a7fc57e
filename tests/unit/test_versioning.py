import polars as pl
import pytest

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


# --- what the code version covers: the project code an asset uses --------------------------

UTIL = '''
import statistics

import polars as pl
import pytest

THRESHOLD = 10
LABELS = {"eu": "Europe", "us": "United States"}


def clean_amount(values):
    """Drop refunds."""
    kept = [v for v in values if v > THRESHOLD]
    return statistics.mean(kept)


def ping(n):
    return pong(n - 1) if n else 0


def pong(n):
    return ping(n)


class Cleaner:
    limit = THRESHOLD

    def run(self, values):
        return clean_amount(values)
'''

PIPELINE = """
import polars as pl
import pytest

from assay import asset
from shop import util
from shop.util import Cleaner, ping


@asset
def revenue() -> pl.DataFrame:
    return pl.DataFrame({"v": [util.clean_amount([1, 20, 30])]})


@asset
def cycling() -> pl.DataFrame:
    return pl.DataFrame({"v": [ping(3)]})


@asset
def classy() -> pl.DataFrame:
    return pl.DataFrame({"v": [Cleaner().run([20, 30])]})


@asset
def labelled() -> pl.DataFrame:
    return pl.DataFrame({"v": [util.LABELS["eu"]]})


@asset
def alone() -> pl.DataFrame:
    return pl.DataFrame({"v": [1]})


@asset(code_version="3")
def decided() -> pl.DataFrame:
    return pl.DataFrame({"v": [util.clean_amount([1, 20, 30])]})
"""


def _load_versions(folder, util_text, pipeline_text=PIPELINE):
    """Code versions and parts of every asset of a project made of `shop/util.py` and
    `pipeline.py`, loaded fresh (nothing cached from another variant)."""
    import sys

    import assay

    (folder / "shop").mkdir(parents=True)
    (folder / "pyproject.toml").write_text("")
    (folder / "shop" / "__init__.py").write_text("")
    (folder / "shop" / "util.py").write_text(util_text)
    (folder / "pipeline.py").write_text(pipeline_text)
    for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        project = assay.load(file=folder / "pipeline.py", home=folder / ".assay")
    finally:
        sys.path.remove(str(folder))
    from assay.versioning import code_parts

    specs = project.graph.specs
    return {str(k): (code_version(s), code_parts(s)) for k, s in specs.items()}


HELPER_CASES = {
    "a helper's logic (mean -> median)": (
        UTIL.replace("statistics.mean(kept)", "statistics.median(kept)"),
        {"revenue", "classy"},
    ),
    "a module-level constant a helper uses": (
        UTIL.replace("THRESHOLD = 10", "THRESHOLD = 15"),
        {"revenue", "classy"},
    ),
    "a constant the asset reads through the module": (
        UTIL.replace('"eu": "Europe"', '"eu": "EU"'),
        {"labelled"},
    ),
    "a method of a class": (
        UTIL.replace("return clean_amount(values)", "return clean_amount(values) * 2"),
        {"classy"},
    ),
    "a function two helpers away, in a cycle": (
        UTIL.replace("return ping(n)", "return ping(n) + 1"),
        {"cycling"},
    ),
    "comments, docstrings and formatting in helpers": (
        UTIL.replace('"""Drop refunds."""', '"""Drop refunds and zeros."""  # why').replace(
            "kept = [v for v in values if v > THRESHOLD]",
            "kept = [\n  v for v in values\n  if v > THRESHOLD  # only\n]",
        ),
        set(),
    ),
    "an unused helper": (UTIL + "\n\ndef unused():\n    return 1\n", set()),
}


@pytest.mark.parametrize(("changed", "stale"), list(HELPER_CASES.values()), ids=list(HELPER_CASES))
def test_the_code_version_covers_the_project_code_an_asset_uses(tmp_path, changed, stale):
    before = _load_versions(tmp_path / "before", UTIL)
    after = _load_versions(tmp_path / "after", changed)
    moved = {key for key in before if before[key][0] != after[key][0]}
    assert moved == stale
    assert before["decided"][0] == after["decided"][0] == "3"  # explicit: I decide
    assert before["decided"][1] == {}
    assert before["alone"][0] == source_hash(pl_free_alone())  # uses nothing: its body's hash


def pl_free_alone():
    def alone() -> pl.DataFrame:
        return pl.DataFrame({"v": [1]})

    return alone


def test_parts_name_what_the_version_is_made_of(tmp_path):
    parts = _load_versions(tmp_path / "p", UTIL)["revenue"][1]
    assert set(parts) == {
        "body",
        "helper shop/util.py:clean_amount",
        "constant shop/util.py:THRESHOLD",
    }  # statistics and polars are third-party: not parts


def test_describing_what_changed():
    from assay.versioning import describe_changes

    old = {"body": "a", "helper shop/util.py:clean_amount": "b", "constant shop/util.py:X": "c"}
    new = {"body": "a", "helper shop/util.py:clean_amount": "B", "class shop/util.py:C": "d"}
    assert describe_changes(old, new) == [
        "class `C` in shop/util.py is now used",
        "constant `X` in shop/util.py is no longer used",
        "helper `clean_amount` in shop/util.py changed",
    ]


def test_a_check_made_by_a_factory_is_versioned_with_its_threshold():
    from assay import asset_check
    from assay.versioning import check_version

    def most(limit):
        @asset_check(asset="orders", name=f"below_{limit}")
        def below(orders) -> bool:
            return bool(orders["amount"].max() < limit)

        return below

    assert check_version(most(5)) == check_version(most(5))
    assert check_version(most(5)) != check_version(most(7))


def test_a_schema_fingerprint_is_its_declaration_not_its_identity():
    import pandera.polars as pa

    from assay.versioning import schema_version

    def model(bound):
        class Orders(pa.DataFrameModel):
            """Orders."""

            amount: float = pa.Field(ge=bound)
            customer: str = pa.Field(nullable=True)

        return Orders

    assert schema_version(model(0)) == schema_version(model(0))
    assert schema_version(model(0)) != schema_version(model(1))
    as_object = pa.DataFrameSchema(
        {"amount": pa.Column(float, pa.Check.ge(0)), "customer": pa.Column(str, nullable=True)}
    )
    assert schema_version(as_object) == schema_version(model(0).to_schema())


def test_code_is_versioned_as_it_was_imported_not_as_its_files_read_later(tmp_path):
    """A file edited between `load()` and the first plan: the old function runs, so
    the old text is what the version is made of (the project's and its helpers')."""
    import sys

    import assay

    folder = tmp_path / "edited"
    _load_versions(folder, UTIL)  # writes the project
    for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        project = assay.load(file=folder / "pipeline.py", home=folder / ".assay")
    finally:
        sys.path.remove(str(folder))
    specs = {str(k): s for k, s in project.graph.specs.items()}
    before = {key: code_version(spec) for key, spec in specs.items()}
    util = folder / "shop" / "util.py"
    util.write_text(util.read_text().replace("statistics.mean", "statistics.median"))
    pipeline = folder / "pipeline.py"
    pipeline.write_text(pipeline.read_text().replace('{"v": [1]}', '{"v": [2]}'))
    assert {key: code_version(spec) for key, spec in specs.items()} == before
    assert specs["alone"].fn()["v"].to_list() == [1]  # what runs is what was imported
