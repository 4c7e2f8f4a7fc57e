"""What an asset is, once declared: `AssetSpec`, and the values users write in
declarations (`AssetIn`, `Output`). The decorators that build them are in
`assets`; everything else reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.keys import AssetKey

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import timedelta

    from assay.conditions import AutomationCondition, Freshness
    from assay.io.base import InputKind, IOManager
    from assay.partitions.base import PartitionsDefinition
    from assay.partitions.mapping import PartitionMapping
    from assay.policies import BatchPolicy, RetryPolicy

CONTEXT_PARAM = "context"
CONFIG_PARAM = "config"  # the parameter that receives the asset's run configuration
DEFAULT_GROUP = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetIn:
    """Point an input parameter at an asset whose name differs from the parameter.

    >>> AssetIn(key="sales/orders").key
    AssetKey(path=('sales', 'orders'))
    """

    key: AssetKey | None = None
    partition_mapping: PartitionMapping | None = None

    def __init__(
        self,
        key: str | AssetKey | Iterable[str] | None = None,
        *,
        partition_mapping: PartitionMapping | None = None,
    ) -> None:
        parsed = None if key is None else AssetKey.parse(as_key_text(key))
        object.__setattr__(self, "key", parsed)
        object.__setattr__(self, "partition_mapping", partition_mapping)


@dataclass(frozen=True, slots=True)
class Output:
    """Return this to give the stored value an explicit data version.

    >>> import polars as pl
    >>> Output(pl.DataFrame({"x": [1]}), data_version="2024-06-01-export").data_version
    '2024-06-01-export'
    """

    value: Any
    data_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiInfo:
    """What a `@multi_asset` output shares with its siblings: one function computes
    them all in one step."""

    name: str  # the function's, for messages and plans
    outputs: Mapping[AssetKey, str]  # each output's key -> its name in `outs`, in order
    can_subset: bool = False  # it computes only the outputs a run selects

    def sibling_keys(self, key: AssetKey) -> tuple[AssetKey, ...]:
        return tuple(k for k in self.outputs if k != key)


@dataclass(frozen=True, kw_only=True, eq=False)
class AssetSpec:
    """A declared asset: the function and everything said about it (compared by identity)."""

    key: AssetKey
    fn: Callable[..., Any]
    group: str = DEFAULT_GROUP
    tags: Mapping[str, str] = field(default_factory=dict)
    owners: tuple[str, ...] = ()
    description: str | None = None
    deps: tuple[AssetKey, ...] = ()
    ins: Mapping[str, AssetIn] = field(default_factory=dict)
    input_kinds: Mapping[str, InputKind] = field(default_factory=dict)
    wants_context: bool = False
    explicit_ins: frozenset[str] = frozenset()  # parameters named in `ins=`: always inputs
    resource_params: frozenset[str] = frozenset()  # parameters annotated with a Resource class
    input_errors: Mapping[str, str] = field(default_factory=dict)  # raised if an input
    config_type: type | None = None  # the dataclass of its `config` parameter
    code_version: str | None = None
    io: IOManager | str | None = None  # an IO manager, or the name of a resource that is one
    partitions: PartitionsDefinition | None = None
    is_source: bool = False
    retry_policy: RetryPolicy | None = None
    pool: str | None = None
    backfill_policy: BatchPolicy | None = None
    schema: Any = None  # a Pandera polars DataFrameModel subclass or DataFrameSchema
    observe_every: timedelta | None = None  # a source the daemon observes on an interval
    automation: AutomationCondition | None = None  # when the daemon requests its partitions
    freshness: Freshness | None = None  # when its partitions are due
    multi: MultiInfo | None = None  # an output of a @multi_asset

    @property
    def is_observable(self) -> bool:
        """A source asset with an observe function."""
        return self.is_source and self.fn is not not_observable

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @property
    def source_location(self) -> str:
        """`file.py:line` of the function, for messages."""
        code = getattr(self.fn, "__code__", None)
        if code is None:
            return repr(self.fn)
        return f"{code.co_filename}:{code.co_firstlineno}"


def not_observable() -> None:
    """The stand-in observe function of a source asset that has none."""
    return None


def as_key_text(value: str | AssetKey | Iterable[str]) -> str | AssetKey | tuple[str, ...]:
    if isinstance(value, str | AssetKey):
        return value
    return tuple(value)
