"""`@multi_asset`: one function that computes several assets in one step."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.assets import _build_spec
from assay.errors import DefinitionError
from assay.keys import AssetKey, check_name
from assay.spec import MultiInfo, as_key_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from assay.conditions import AutomationCondition, Freshness
    from assay.io.base import IOManager
    from assay.partitions.base import PartitionsDefinition
    from assay.policies import RetryPolicy
    from assay.spec import AssetIn, AssetSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetOut:
    """One output of a `@multi_asset`: what `@asset` says of an asset, per output.

    `key` defaults to the output's name (under the multi-asset's `key_prefix`).

    >>> AssetOut(group="finance").group
    'finance'
    """

    key: str | AssetKey | None = None
    group: str | None = None
    tags: Mapping[str, str] | None = None
    owners: Iterable[str] | None = None
    description: str | None = None
    io: IOManager | str | None = None
    schema: Any = None
    automation: AutomationCondition | None = None
    freshness: Freshness | None = None


@dataclass(frozen=True, eq=False)
class MultiAsset:
    """The assets a `@multi_asset` function computes; give it to `Definitions(assets=
    [...])` like an asset. It stays callable like the function."""

    fn: Callable[..., Any]
    specs: tuple[AssetSpec, ...]

    @property
    def keys(self) -> tuple[AssetKey, ...]:
        return tuple(spec.key for spec in self.specs)

    def __iter__(self) -> Iterator[AssetSpec]:
        return iter(self.specs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def multi_asset(
    *,
    outs: Mapping[str, AssetOut],
    key_prefix: str | Iterable[str] | None = None,
    group: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Iterable[str] | None = None,
    deps: Iterable[str | AssetKey | AssetSpec] | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    code_version: str | None = None,
    partitions: PartitionsDefinition | None = None,
    retry_policy: RetryPolicy | None = None,
    pool: str | None = None,
    can_subset: bool = False,
) -> Callable[[Callable[..., Any]], MultiAsset]:
    """Declare several assets computed by one function, in one step per partition.

    The function's parameters are as for `@asset` (inputs, `context`, resources,
    `config`), shared by every output. It returns a dict from output name to value
    (or an `Output`), or a tuple in the order of `outs`. Each output has its own key,
    IO manager, schema, checks and data version; they share the code version and
    the partitions.

    A run that selects only some outputs computes them all and stores them all
    (the plan says so: `computed with ...`), unless `can_subset=True`: then the
    function reads `context.selected_outputs` (the names to compute) and returns
    only those, and only those are stored.

    Example:
        >>> import polars as pl
        >>> @multi_asset(outs={"prices": AssetOut(), "currencies": AssetOut(group="ref")})
        ... def price_list():
        ...     frame = pl.DataFrame({"sku": ["a"], "price": [1.0], "currency": ["EUR"]})
        ...     return {"prices": frame.drop("currency"), "currencies": frame.select("currency")}
        >>> [str(key) for key in price_list.keys]
        ['prices', 'currencies']
    """
    where_of = "@multi_asset on {!r}"

    def decorate(func: Callable[..., Any]) -> MultiAsset:
        where = where_of.format(getattr(func, "__qualname__", func))
        if not isinstance(outs, dict) or not outs:
            raise DefinitionError(
                f"{where}: outs= needs at least one output, like "
                '{"prices": AssetOut(), "currencies": AssetOut()}'
            )
        prefix = () if key_prefix is None else AssetKey.parse(as_key_text(key_prefix)).path
        keys: dict[AssetKey, str] = {}
        for out_name, out in outs.items():
            check_name(out_name, "output name", where)
            if not isinstance(out, AssetOut):
                raise DefinitionError(
                    f"{where}: output {out_name!r} is {out!r}; give AssetOut(...) for each"
                )
            key = (
                AssetKey((*prefix, out_name))
                if out.key is None
                else AssetKey.parse(as_key_text(out.key))
            )
            if key in keys:
                raise DefinitionError(f"{where}: two outputs have the key {str(key)!r}")
            keys[key] = out_name
        info = MultiInfo(
            name=getattr(func, "__qualname__", str(func)), outputs=keys, can_subset=can_subset
        )
        specs = []
        for key, out_name in keys.items():
            out = outs[out_name]
            spec = _build_spec(
                func,
                name=key.name,
                key_prefix=key.path[:-1] or None,
                group=out.group or group,
                tags={**(tags or {}), **(out.tags or {})},
                owners=out.owners if out.owners is not None else owners,
                description=out.description
                if out.description is not None
                else inspect.getdoc(func),
                deps=deps,
                ins=ins,
                code_version=code_version,
                io=out.io,
                partitions=partitions,
                retry_policy=retry_policy,
                pool=pool,
                schema=out.schema,
                automation=out.automation,
                freshness=out.freshness,
            )
            specs.append(dataclasses.replace(spec, multi=info))
        return MultiAsset(fn=func, specs=tuple(specs))

    return decorate
