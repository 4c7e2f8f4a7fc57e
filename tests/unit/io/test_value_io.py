"""JSONIO, PickleIO and FileIO: round trips, partitions, stable versions, atomic writes."""

import pickle
from fractions import Fraction
from pathlib import Path

import pytest

from assay import JSONIO, AssetKey, FileIO, PickleIO
from assay.config import resolve_config
from assay.errors import ConfigError, DefinitionError, MaterializationError
from assay.io.base import InputKind

KEY = AssetKey(("ml", "model"))


@pytest.fixture
def config(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    return resolve_config(cwd=tmp_path)


VALUES = {
    "json": (JSONIO(), {"b": [1, 2.5, None, True], "a": "é"}, "data.json"),
    "pickle": (PickleIO(), Fraction(3, 4), "data.pkl"),
    "file-bytes": (FileIO(suffix=".bin"), b"\x00\x01binary", "data.bin"),
}


@pytest.mark.parametrize(("io", "value", "name"), VALUES.values(), ids=VALUES.keys())
def test_values_round_trip_unpartitioned_and_partitioned_with_stable_versions(
    config, io, value, name
):
    io = io.bind(config)
    stored = io.write(KEY, None, value)
    assert stored.location == str(config.root / ".assay/storage/ml/model" / name)
    assert stored.row_count is None
    assert stored.byte_size == Path(stored.location).stat().st_size > 0
    assert stored.columns == ()
    kind = InputKind.BYTES if isinstance(value, bytes) else InputKind.VALUE
    assert io.load(KEY, None, kind) == value
    assert io.write(KEY, None, value).data_version == stored.data_version
    for day in ("2024-01-01", "2024-01-02"):
        placed = io.write(KEY, day, value)
        assert placed.location.endswith(f"ml/model/partition={day}/{name}")
        assert placed.data_version == stored.data_version  # same bytes, same version
    both = io.load(KEY, ["2024-01-02", "2024-01-01"], kind)
    assert list(both) == ["2024-01-02", "2024-01-01"]
    assert both == {"2024-01-01": value, "2024-01-02": value}
    assert io.load(KEY, [], kind) == {}
    assert io.exists(KEY, ["2024-01-01", "2024-01-03"]) == [True, False]
    assert io.exists(KEY, None) == [True]
    with pytest.raises(MaterializationError, match="no stored partition 2024-01-03"):
        io.load(KEY, ["2024-01-03"], kind)


def test_json_is_canonical_so_equal_values_get_equal_versions(config):
    io = JSONIO().bind(config)
    first = io.write(KEY, None, {"b": 1, "a": {"y": [1, 2], "x": "é"}})
    second = io.write(KEY, None, {"a": {"x": "é", "y": [1, 2]}, "b": 1})
    assert first.data_version == second.data_version
    assert Path(first.location).read_text(encoding="utf-8") == '{"a":{"x":"é","y":[1,2]},"b":1}'
    assert io.write(KEY, None, {"b": 2}).data_version != first.data_version


@pytest.mark.parametrize(
    ("value", "hint"),
    [({"s": {1, 2}}, "set is not JSON serializable"), (float("nan"), "Out of range float")],
    ids=["set", "nan"],
)
def test_a_value_json_cannot_hold_fails_and_leaves_the_old_one(config, value, hint):
    io = JSONIO().bind(config)
    old = io.write(KEY, None, {"ok": True})
    with pytest.raises(MaterializationError) as caught:
        io.write(KEY, None, value)
    message = str(caught.value)
    assert message.startswith("asset 'ml/model' returned a value JSONIO cannot store (")
    assert hint in message
    assert "or store it with io=PickleIO()" in message
    assert io.load(KEY, None, InputKind.VALUE) == {"ok": True}
    assert Path(old.location).read_bytes() == b'{"ok":true}'
    assert not list((config.root / ".assay/storage/.assay-tmp").glob("*"))


class Unpicklable:
    def __reduce__(self):
        raise TypeError("this object refuses pickling")


def test_pickle_failures_name_the_asset_and_keep_the_old_value(config):
    io = PickleIO().bind(config)
    io.write(KEY, None, [1, 2])
    with pytest.raises(MaterializationError, match="asset 'ml/model' returned a value that cannot"):
        io.write(KEY, None, Unpicklable())
    assert io.load(KEY, None, InputKind.VALUE) == [1, 2]
    assert pickle.loads(Path(io.location(KEY, None)).read_bytes()) == [1, 2]


def test_a_returned_path_is_copied_in_and_loaded_as_a_path_or_bytes(config, tmp_path):
    io = FileIO(suffix=".html").bind(config)
    page = tmp_path / "build" / "report.html"
    page.parent.mkdir()
    page.write_text("<h1>v1</h1>")
    stored = io.write(KEY, "eu", page)
    assert page.read_text() == "<h1>v1</h1>"  # the user's file stays
    loaded = io.load(KEY, ["eu"], InputKind.PATH)["eu"]
    assert loaded == Path(stored.location)
    assert loaded.name == "data.html"
    assert io.load(KEY, ["eu"], InputKind.BYTES) == {"eu": b"<h1>v1</h1>"}
    assert io.load(KEY, ["eu"], InputKind.EAGER) == {"eu": loaded}  # unannotated: the Path
    assert io.write(KEY, "eu", b"<h1>v1</h1>").data_version == stored.data_version


def test_file_io_refuses_what_is_not_a_file(config, tmp_path):
    io = FileIO().bind(config)
    io.write(KEY, None, b"old")
    with pytest.raises(MaterializationError, match=r"returned the path .* which is not a file"):
        io.write(KEY, None, tmp_path)
    with pytest.raises(MaterializationError, match="returned dict, and FileIO stores files"):
        io.write(KEY, None, {"a": 1})
    assert io.load(KEY, None, InputKind.BYTES) == b"old"
    with pytest.raises(DefinitionError, match=r"give a file suffix like '\.html'"):
        FileIO(suffix="html")
    with pytest.raises(DefinitionError, match="give a protocol from 2 to"):
        PickleIO(protocol=99)


def test_roots_bind_like_parquet_and_refuse_object_stores(config, tmp_path):
    assert JSONIO(root="values").bind(config).root == config.root / "values"
    assert PickleIO(root=tmp_path / "abs").bind(config).root == tmp_path / "abs"
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote/pyproject.toml").write_text('[tool.assay]\nstorage = "s3://lake/x"\n')
    remote = resolve_config(cwd=tmp_path / "remote")
    with pytest.raises(ConfigError, match="JSONIO stores local files"):
        JSONIO().bind(remote)
