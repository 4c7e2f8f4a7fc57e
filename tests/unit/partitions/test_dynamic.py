"""DynamicPartitions: keys from the context, mappings, messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assay.errors import DefinitionError, PartitionKeyError
from assay.partitions import DynamicPartitions, StaticPartitions
from assay.partitions.base import PartitionContext
from assay.partitions.keysets import DynamicKeys
from assay.partitions.mapping import (
    AllPartitionsMapping,
    Broadcast,
    IdentityMapping,
    Shift,
    default_mapping,
)
from assay.partitions.selection import PartitionSelection
from assay.partitions.subset import PartitionSubset

NOW = datetime(2024, 1, 3, tzinfo=UTC)


def at(**keys: list[str]) -> PartitionContext:
    return PartitionContext.at(NOW, DynamicKeys(keys))


def test_the_keys_are_the_contexts_in_order():
    customers = DynamicPartitions("customers")
    context = at(customers=["acme", "globex", "initech"])
    assert customers.size(context) == 3
    assert customers.keys(context=context) == ["acme", "globex", "initech"]
    assert customers.index("globex", context) == 1
    assert customers.key(2) == "initech"  # from the last context it was given
    assert customers.fold(PartitionSubset.from_range(0, 3)) == "acme, globex, initech"
    assert customers.size(at(suppliers=["x"])) == 0  # a context without its name: no keys


def test_a_key_not_in_the_context_names_the_keys():
    customers = DynamicPartitions("customers")
    with pytest.raises(PartitionKeyError, match="valid keys are acme, globex"):
        customers.index("hooli", at(customers=["acme", "globex"]))
    with pytest.raises(PartitionKeyError, match="valid keys are none yet"):
        customers.index("hooli", at(customers=[]))


def test_a_range_follows_the_order_of_addition():
    customers = DynamicPartitions("customers")
    context = at(customers=["zeta", "acme", "mid"])
    selection = PartitionSelection(first="acme", last="mid")
    assert selection.resolve(customers, context) == PartitionSubset.from_range(1, 3)
    with pytest.raises(PartitionKeyError, match="comes after --to"):
        PartitionSelection(first="mid", last="zeta").resolve(customers, context)


def test_contexts_with_the_same_keys_are_equal_and_hash_alike():
    assert at(customers=["a", "b"]) == at(customers=["a", "b"])
    assert hash(at(customers=["a", "b"])) == hash(at(customers=["a", "b"]))
    assert at(customers=["a", "b"]) != at(customers=["b", "a"])


def test_mappings_between_dynamic_and_other_definitions():
    customers, again = DynamicPartitions("customers"), DynamicPartitions("customers")
    context = at(customers=["a", "b", "c"])
    assert isinstance(default_mapping(customers, again), IdentityMapping)
    assert IdentityMapping().edges(customers, again, context) == Shift(0)
    assert isinstance(default_mapping(customers, None), AllPartitionsMapping)
    assert AllPartitionsMapping().edges(customers, None, context) == Broadcast(0, 3)
    with pytest.raises(DefinitionError, match="no default partition mapping"):
        default_mapping(StaticPartitions(["a"]), customers)
    with pytest.raises(DefinitionError, match="no default partition mapping"):
        default_mapping(DynamicPartitions("suppliers"), customers)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "x\n"], ids=["empty", "slash", "dots", "newline"])
def test_requests_validate_their_keys(bad):
    with pytest.raises(PartitionKeyError, match="invalid partition key"):
        DynamicPartitions("customers").add_request(["ok", bad])
