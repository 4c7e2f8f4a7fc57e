import pytest

from assay import AssetKey, DailyPartitions, MultiPartitions, StaticPartitions
from assay.errors import DefinitionError, PartitionKeyError
from assay.keys import validate_partition_key


def test_key_parses_and_prints_its_path():
    key = AssetKey.parse("sales/daily_revenue")
    assert key.path == ("sales", "daily_revenue")
    assert key.name == "daily_revenue"
    assert str(key) == "sales/daily_revenue"
    assert AssetKey.parse(["a", "b"]) == AssetKey(("a", "b"))


@pytest.mark.parametrize(
    "text", ["", "a//b", "../x", "a/../b", "sp ace", "a/b;drop", "1abc"], ids=repr
)
def test_invalid_asset_keys_are_rejected_with_the_rule(text):
    with pytest.raises(DefinitionError, match="letters, digits"):
        AssetKey.parse(text)


@pytest.mark.parametrize("key", ["2024-01-01", "eu|2024-01-01", "a b", "x.y"])
def test_valid_partition_keys_pass(key):
    assert validate_partition_key(key) == key


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("", "cannot be empty"),
        ("..", "may not be '.' or '..'"),
        ("a/b", "'/'"),
        ("../x", "'/'"),
        ("a\\b", "'/'"),
        ("bad\nkey", "control characters"),
    ],
    ids=["empty", "dotdot", "slash", "escape", "backslash", "newline"],
)
def test_partition_keys_that_could_escape_storage_are_rejected(key, hint):
    with pytest.raises(PartitionKeyError, match=hint):
        validate_partition_key(key)


@pytest.mark.parametrize(
    ("key", "size"),
    [("x" * 201, 201), ("é" * 101, 202), ("日" * 67, 201)],
    ids=["ascii", "two-byte", "three-byte"],
)
def test_a_partition_key_longer_than_a_folder_name_allows_is_rejected(key, size):
    with pytest.raises(PartitionKeyError) as caught:
        validate_partition_key(key)
    assert f"is {size} bytes long (UTF-8); the limit is 200 bytes" in str(caught.value)
    assert "`partition=<key>`: shorten it" in str(caught.value)
    assert len(str(caught.value)) < 200  # the key is clipped in the message


def test_the_limit_counts_bytes_not_characters():
    assert validate_partition_key("x" * 200) == "x" * 200
    assert validate_partition_key("é" * 100) == "é" * 100


def test_static_and_multi_partitions_refuse_keys_too_long_at_definition_time():
    with pytest.raises(DefinitionError, match=r"StaticPartitions: partition key 'xxx.*is 201"):
        StaticPartitions(["eu", "x" * 201])
    regions = StaticPartitions(["eu", "r" * 190])
    with pytest.raises(DefinitionError) as caught:
        MultiPartitions({"day": DailyPartitions(start="2024-01-01"), "region": regions})
    assert "keys like '2024-01-01|rrr" in str(caught.value)
    assert "are 201 bytes long (UTF-8); the limit is 200 bytes" in str(caught.value)
    assert "shorten the keys of 'region'" in str(caught.value)


def test_an_asset_key_segment_longer_than_a_folder_name_allows_is_rejected():
    assert AssetKey(("a" * 200,)).name == "a" * 200
    with pytest.raises(DefinitionError, match="is 201 characters long; the limit is 200"):
        AssetKey(("sales", "a" * 201))
