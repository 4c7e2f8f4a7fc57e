"""ParquetIO at fsspec URLs: object stores (one atomic PUT), other filesystems
(a temporary file, then a move), and `file://` URLs, which are local folders."""

import polars as pl
import pytest

from assay import AssetKey, ParquetIO
from assay.config import resolve_config
from assay.errors import ConfigError, MaterializationError
from assay.io.base import InputKind

KEY = AssetKey(("sales", "orders"))
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


@pytest.fixture
def config(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    return resolve_config(cwd=tmp_path)


def day_frame(day: str) -> pl.DataFrame:
    return pl.DataFrame({"day": [day, day], "amount": [1.0, 2.5]})


@pytest.mark.parametrize("scheme", ["memory", "local"])
def test_partitions_round_trip_with_the_same_versions_as_a_local_folder(config, tmp_path, scheme):
    root = f"memory://lake/{tmp_path.name}" if scheme == "memory" else f"local://{tmp_path}/x"
    remote = ParquetIO(root=root).bind(config)
    local = ParquetIO(root=tmp_path / "plain").bind(config)
    for day in DAYS:
        stored = remote.write(KEY, day, day_frame(day))
        assert stored.location == f"{root}/sales/orders/partition={day}/data.parquet"
        assert stored.data_version == local.write(KEY, day, day_frame(day)).data_version
        assert stored.row_count == 2
    both = remote.load(KEY, DAYS[:2], InputKind.EAGER)
    assert both.equals(pl.concat([day_frame(DAYS[0]), day_frame(DAYS[1])]))
    assert remote.load(KEY, DAYS, InputKind.LAZY).collect().height == 6
    assert remote.load(KEY, DAYS, InputKind.ARROW).num_rows == 6
    assert remote.load(KEY, [], InputKind.EAGER).schema == day_frame(DAYS[0]).schema
    if scheme == "local":  # written as a temporary file, then moved: nothing left over
        folder = tmp_path / "x/sales/orders/partition=2024-01-01"
        assert [p.name for p in folder.iterdir()] == ["data.parquet"]


def test_a_lazy_frame_is_stored_at_a_url(config):
    io = ParquetIO(root="memory://lake/lazy").bind(config)
    stored = io.write(KEY, None, day_frame("x").lazy())
    assert (stored.row_count, stored.columns) == (2, (("day", "String"), ("amount", "Float64")))
    assert io.load(KEY, None, InputKind.EAGER).equals(day_frame("x"))


def test_missing_partitions_at_a_url_are_named(config):
    io = ParquetIO(root="memory://lake/missing").bind(config)
    io.write(KEY, DAYS[0], day_frame(DAYS[0]))
    with pytest.raises(MaterializationError, match=r"no stored partition 2024-01-02, 2024-01-03"):
        io.load(KEY, DAYS, InputKind.EAGER)
    with pytest.raises(MaterializationError, match=r"at memory://lake/missing/sales/orders"):
        io.load(KEY, DAYS[1:], InputKind.EAGER)
    with pytest.raises(MaterializationError, match="materialize it first"):
        io.load(AssetKey(("other",)), [], InputKind.EAGER)


def test_a_file_url_is_a_local_folder(config, tmp_path):
    io = ParquetIO(root=f"file://{tmp_path}/wh").bind(config)
    assert io.is_local
    stored = io.write(KEY, None, day_frame("x"))
    assert stored.location == f"{tmp_path}/wh/sales/orders/data.parquet"
    assert io.lineage_dataset(KEY) == ("file", f"{tmp_path}/wh/sales/orders")


def test_lineage_names_a_bucket_and_a_prefix(config):
    io = ParquetIO(root="s3://lake/warehouse/").bind(config)
    assert io.lineage_dataset(KEY) == ("s3://lake", "warehouse/sales/orders")
    with pytest.raises(ValueError, match="not local: use location"):
        io.path(KEY, None)


def test_the_project_storage_setting_is_the_default_root(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.assay]\nstorage = "memory://lake/project"\n'
        "[tool.assay.storage_options]\nskip_instance_cache = true\n"
    )
    config = resolve_config(cwd=tmp_path)
    io = ParquetIO().bind(config)
    assert io.location(KEY, None) == "memory://lake/project/sales/orders/data.parquet"
    assert io.storage_options == {"skip_instance_cache": True}
    monkeypatch.setenv("ASSAY_STORAGE", "warehouse")  # relative: from the project root
    assert ParquetIO().bind(resolve_config(cwd=tmp_path)).location(KEY, None) == str(
        tmp_path / "warehouse/sales/orders/data.parquet"
    )


def test_a_filesystem_that_is_not_installed_says_what_to_install(config):
    io = ParquetIO(root="gcs://bucket/x").bind(config)
    with pytest.raises(ConfigError, match=r"storage at gcs://bucket/x needs gcsfs"):
        io.write(KEY, None, day_frame("x"))
