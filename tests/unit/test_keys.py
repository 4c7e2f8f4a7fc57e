import pytest

from assay import AssetKey
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
