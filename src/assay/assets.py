"""`@asset` and `@source_asset`: how users declare assets.

The decorator validates everything a user wrote (key, tags, inputs) once, here,
and returns an `AssetSpec`, which stays callable like the function it wraps.
"""

from __future__ import annotations

import inspect
import typing
from datetime import timedelta
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, overload

from assay.errors import DefinitionError
from assay.io.base import FRAME_KINDS, InputKind, Stores, stores_of
from assay.keys import AssetKey, check_name
from assay.partitions.base import PartitionsDefinition
from assay.policies import BatchPolicy, RetryPolicy
from assay.spec import (
    CONFIG_PARAM,
    CONTEXT_PARAM,
    DEFAULT_GROUP,
    AssetIn,
    AssetSpec,
    as_key_text,
    not_observable,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from assay.conditions import AutomationCondition, Freshness
    from assay.io.base import IOManager


@overload
def asset(fn: Callable[..., Any], /) -> AssetSpec: ...


@overload
def asset(
    *,
    name: str | None = None,
    key_prefix: str | Iterable[str] | None = None,
    group: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Iterable[str] | None = None,
    description: str | None = None,
    deps: Iterable[str | AssetKey | AssetSpec] | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    code_version: str | None = None,
    io: IOManager | str | None = None,
    partitions: PartitionsDefinition | None = None,
    retry_policy: RetryPolicy | None = None,
    pool: str | None = None,
    backfill_policy: BatchPolicy | None = None,
    schema: Any = None,
    automation: AutomationCondition | None = None,
    freshness: Freshness | None = None,
) -> Callable[[Callable[..., Any]], AssetSpec]: ...


def asset(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    key_prefix: str | Iterable[str] | None = None,
    group: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Iterable[str] | None = None,
    description: str | None = None,
    deps: Iterable[str | AssetKey | AssetSpec] | None = None,
    ins: Mapping[str, AssetIn] | None = None,
    code_version: str | None = None,
    io: IOManager | str | None = None,
    partitions: PartitionsDefinition | None = None,
    retry_policy: RetryPolicy | None = None,
    pool: str | None = None,
    backfill_policy: BatchPolicy | None = None,
    schema: Any = None,
    automation: AutomationCondition | None = None,
    freshness: Freshness | None = None,
) -> AssetSpec | Callable[[Callable[..., Any]], AssetSpec]:
    """Declare an asset: a named, versioned dataset computed by the decorated function.

    Parameters other than `context` and `config` are inputs, matched to upstream
    assets by name (or by `ins`), unless they name a resource of the Definitions
    (`Definitions(resources={"api": ...})`, see docs/resources.md). A `config`
    parameter annotated with a dataclass receives the asset's run configuration
    (docs/config.md). `io` is an IO manager, or the name of a resource that is
    one. The function returns a `pl.DataFrame`, a `pl.LazyFrame` or a
    `pyarrow.Table` (or an `Output` wrapping one), stored by `io` (default: the
    project's, else ParquetIO). Other values need an IO manager for them
    (`JSONIO()`, `FileIO()`, `PickleIO()`), unless the return annotation says:
    with no `io`, `-> dict` and `-> list` are stored by JSONIO, `-> bytes` and
    `-> Path` by FileIO, and `-> None` stores nothing (a side effect; a new data
    version each run unless it returns `Output(None, data_version=...)`). Inputs
    receive what their upstream stores; an annotation asks for a type (`dict`,
    `Path`, `bytes`, `pl.LazyFrame`...), checked when the graph is built. With
    `partitions`, it runs once per partition; `context.partition_key` says which.

    `retry_policy` retries failed steps (default: the project's, else none).
    `pool` names a concurrency pool: `Definitions(pools={"stripe": 2})` lets at
    most two of its steps run at once. `backfill_policy=BatchPolicy(...)` lets
    one call compute a range of partitions. `schema` (a Pandera polars
    `DataFrameModel` or `DataFrameSchema`) validates every output before it is
    stored; an output that fails is not stored. `automation` (`Auto.on_stale()`,
    ...) says when the daemon requests its partitions by itself, `freshness`
    (`Freshness(lag=...)`) when each is due (see docs/automation.md).

    Example:
        >>> import polars as pl
        >>> @asset(group="sales", tags={"tier": "gold"})
        ... def daily_revenue(orders: pl.DataFrame) -> pl.DataFrame:
        ...     return orders.group_by("day").agg(pl.col("amount").sum())
        >>> str(daily_revenue.key)
        'daily_revenue'
    """

    def decorate(func: Callable[..., Any]) -> AssetSpec:
        return _build_spec(
            func,
            name=name,
            key_prefix=key_prefix,
            group=group,
            tags=tags,
            owners=owners,
            description=description,
            deps=deps,
            ins=ins,
            code_version=code_version,
            io=io,
            partitions=partitions,
            retry_policy=retry_policy,
            pool=pool,
            backfill_policy=backfill_policy,
            schema=schema,
            automation=automation,
            freshness=freshness,
        )

    if fn is not None:
        if not callable(fn):
            raise DefinitionError(
                f"@asset got {fn!r}; use it bare (@asset) or with keywords (@asset(group=...))"
            )
        return decorate(fn)
    return decorate


def _build_spec(
    func: Callable[..., Any],
    *,
    name: str | None,
    key_prefix: str | Iterable[str] | None,
    group: str | None,
    tags: Mapping[str, str] | None,
    owners: Iterable[str] | None,
    description: str | None,
    deps: Iterable[str | AssetKey | AssetSpec] | None,
    ins: Mapping[str, AssetIn] | None,
    code_version: str | None,
    io: IOManager | str | None,
    partitions: PartitionsDefinition | None,
    retry_policy: RetryPolicy | None = None,
    pool: str | None = None,
    backfill_policy: BatchPolicy | None = None,
    schema: Any = None,
    automation: AutomationCondition | None = None,
    freshness: Freshness | None = None,
    one_output: bool = True,
) -> AssetSpec:
    where = f"@asset on {getattr(func, '__qualname__', func)!r}"
    prefix = () if key_prefix is None else AssetKey.parse(as_key_text(key_prefix)).path
    key = AssetKey((*prefix, name or func.__name__))
    signature = inspect.signature(func)  # once: it costs ~10 µs, and a project has many
    params = signature.parameters
    explicit_ins = dict(ins or {})
    for in_name in explicit_ins:
        if in_name not in params:
            raise DefinitionError(
                f"{where}: ins names {in_name!r}, which is not a parameter of the function "
                f"(parameters: {', '.join(params) or 'none'})"
            )
    resolved_ins: dict[str, AssetIn] = {}
    kinds: dict[str, InputKind] = {}
    types: dict[str, object] = {}
    errors: dict[str, str] = {}
    resource_params: set[str] = set()
    config_type = None
    scope = getattr(func, "__globals__", None)
    for param_name, param in params.items():
        if param_name == CONTEXT_PARAM:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(f"{where}: *args and **kwargs cannot be inputs; name each input")
        if param_name == CONFIG_PARAM and param_name not in explicit_ins:
            config_type = config_class(param.annotation, where=where, scope=scope)
            if config_type is not None:
                continue  # else an input, like any other parameter: an asset named config
        if param_name not in explicit_ins and is_resource_annotation(param.annotation, scope):
            resource_params.add(param_name)
            continue
        resolved_ins[param_name] = explicit_ins.get(param_name, AssetIn())
        try:
            kinds[param_name] = input_kind(
                param.annotation, what=f"{where}: input {param_name!r}", scope=scope
            )
        except DefinitionError as exc:  # raised if it is an input, not a resource
            errors[param_name] = str(exc)
        declared = declared_type(param.annotation, scope)
        if declared is not None:
            types[param_name] = declared
    # a multi-asset's return annotation describes all its outputs (a dict, a tuple)
    implied = implied_store(signature.return_annotation, scope) if one_output else None
    stored = stores_of(io) if io is not None else implied
    schema = check_schema(schema, where)
    if schema is not None and stored not in (None, Stores.FRAMES):
        raise DefinitionError(
            f"{where}: schema= validates frames, and this asset stores {stored}; "
            "drop schema=, or check its value with an @asset_check"
        )
    backfill_policy = _check_batch(backfill_policy, partitions, where)
    if backfill_policy is not None and stored not in (None, Stores.FRAMES):
        raise DefinitionError(
            f"{where}: backfill_policy splits a frame into partitions, and this asset "
            f"stores {stored}; drop backfill_policy= (each partition then runs alone)"
        )
    return AssetSpec(
        key=key,
        fn=func,
        group=_check_name(group or DEFAULT_GROUP, "group", where),
        tags=_check_tags(tags or {}, where),
        owners=tuple(owners or ()),
        description=description if description is not None else inspect.getdoc(func),
        deps=tuple(_dep_key(dep) for dep in deps or ()),
        ins=resolved_ins,
        input_kinds=kinds,
        input_types=types,
        implied_store=implied,
        wants_context=CONTEXT_PARAM in params,
        explicit_ins=frozenset(explicit_ins),
        resource_params=frozenset(resource_params),
        input_errors=errors,
        config_type=config_type,
        code_version=code_version,
        io=io,
        partitions=_check_partitions(partitions, where),
        retry_policy=_check_retry(retry_policy, where),
        pool=None if pool is None else _check_name(pool, "pool", where),
        backfill_policy=backfill_policy,
        schema=schema,
        automation=_check_automation(automation, where),
        freshness=_check_freshness(freshness, partitions, where),
    )


def is_resource_annotation(annotation: object, scope: Mapping[str, Any] | None) -> bool:
    """Whether a parameter is annotated with a `Resource` subclass (a resource, by name)."""
    from assay.resources import Resource

    resolved = _evaluated(annotation, scope) if isinstance(annotation, str) else annotation
    return isinstance(resolved, type) and issubclass(resolved, Resource)


def config_class(annotation: object, *, where: str, scope: Mapping[str, Any] | None) -> type | None:
    """The dataclass a `config` parameter is annotated with, its fields checked; None
    when it is not annotated with a dataclass (it is then an input, as before run
    configuration: an upstream asset named `config`)."""
    import dataclasses

    from assay.run_config import check_config_class

    resolved = _evaluated(annotation, scope) if isinstance(annotation, str) else annotation
    if not (isinstance(resolved, type) and dataclasses.is_dataclass(resolved)):
        return None
    return check_config_class(resolved, where=f"{where}: config")


def _check_automation(
    condition: AutomationCondition | None, where: str
) -> AutomationCondition | None:
    if condition is None:
        return None
    from assay.conditions import AutomationCondition  # (declared automation only)

    if not isinstance(condition, AutomationCondition):
        raise DefinitionError(
            f"{where}: automation={condition!r} is not a condition; use Auto.on_stale(), "
            "Auto.on_cron('0 6 * * *'), ... (see docs/automation.md)"
        )
    return condition


def _check_freshness(
    freshness: Freshness | None, partitions: PartitionsDefinition | None, where: str
) -> Freshness | None:
    if freshness is None:
        return None
    from assay.conditions import Freshness

    if not isinstance(freshness, Freshness):
        raise DefinitionError(
            f"{where}: freshness={freshness!r} is not a Freshness; use Freshness(lag=...)"
        )
    if freshness.lag is not None and getattr(partitions, "kind", None) != "time":
        raise DefinitionError(
            f"{where}: Freshness(lag=...) needs time partitions (daily, hourly, ...); "
            "use Freshness(max_age=...) or Freshness(deadline=...) for this asset"
        )
    return freshness


def _check_retry(policy: RetryPolicy | None, where: str) -> RetryPolicy | None:

    if policy is not None and not isinstance(policy, RetryPolicy):
        raise DefinitionError(
            f"{where}: retry_policy={policy!r} is not a RetryPolicy; "
            "use RetryPolicy(max_retries=3, delay=1.0)"
        )
    return policy


def _check_batch(
    policy: BatchPolicy | None, partitions: PartitionsDefinition | None, where: str
) -> BatchPolicy | None:

    if policy is None:
        return None
    if not isinstance(policy, BatchPolicy):
        raise DefinitionError(
            f"{where}: backfill_policy={policy!r} is not a BatchPolicy; "
            'use BatchPolicy(max_partitions=31, partition_column="day")'
        )
    if partitions is None:
        raise DefinitionError(
            f"{where}: backfill_policy needs partitions: batches are ranges of partitions"
        )
    return policy


def check_schema(schema: Any, where: str) -> Any:
    """`schema` if it is a Pandera polars schema (a `DataFrameModel` subclass or a
    `DataFrameSchema`), else a DefinitionError. Pandera is not imported here: a
    user who wrote a schema has imported it already."""
    if schema is None:
        return None
    kind = schema if isinstance(schema, type) else type(schema)
    names = [f"{k.__module__}.{k.__qualname__}" for k in kind.__mro__]
    if any(n.startswith("pandera.api.polars.") for n in names):
        return schema
    hint = ""
    if any(n.startswith("pandera.") for n in names):
        hint = " (a pandas schema: import pandera.polars as pa, not pandera as pa)"
    raise DefinitionError(
        f"{where}: schema={schema!r} is not a Pandera polars schema{hint}; use a "
        "pandera.polars.DataFrameModel subclass or a pandera.polars.DataFrameSchema"
    )


def _check_partitions(
    partitions: PartitionsDefinition | None, where: str
) -> PartitionsDefinition | None:

    if partitions is not None and not isinstance(partitions, PartitionsDefinition):
        raise DefinitionError(
            f"{where}: partitions={partitions!r} is not a partitions definition; use "
            "DailyPartitions(start=...), StaticPartitions([...]) or another from assay"
        )
    return partitions


def input_kind(
    annotation: object, *, what: str, scope: Mapping[str, Any] | None = None
) -> InputKind:
    """How an input annotated `annotation` is handed over (`what` names it in errors:
    `@asset on 'revenue': input 'orders'`; `scope` is the function's globals, to read
    string annotations of `from __future__ import annotations`).

    Unannotated, `typing.Any` and `object`: what the upstream's IO manager stores (a
    polars DataFrame from ParquetIO); `pl.DataFrame`: a polars DataFrame;
    `pl.LazyFrame`: a lazy scan; `pa.Table`: an Arrow table; `bytes` and `Path`: a
    stored file's content or path (FileIO); any other type (`dict`, a class of
    yours): the stored value as it is (JSONIO, PickleIO). Whether the upstream
    stores that is checked when the graph is built (`Definitions`).

    Raises:
        DefinitionError: a pandas DataFrame (assay hands over polars), or a frame in
            a union (`pl.DataFrame | None`), which no IO manager hands over.
    """
    if annotation is inspect.Parameter.empty:
        return InputKind.EAGER
    resolved = annotation
    if isinstance(annotation, str):
        resolved = _evaluated(annotation, scope)
        if resolved is _UNRESOLVED:  # a name imported under TYPE_CHECKING: read the text
            text = annotation.replace(" ", "")
            kind = _KINDS_BY_TEXT.get(text)
            if kind is not None:
                return kind
            if text.split(".")[0] in ("pd", "pandas"):
                raise _unsupported(what, annotation, True)
            if any(_KINDS_BY_TEXT.get(part) in FRAME_KINDS for part in text.split("|")):
                raise _unsupported(what, annotation, False)
            return InputKind.VALUE
    if resolved is Any or resolved is object:
        return InputKind.EAGER
    shown = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    if isinstance(resolved, type):
        for kind_type in resolved.__mro__:
            found = _KINDS_BY_TYPE.get(f"{kind_type.__module__}.{kind_type.__qualname__}")
            if found is not None:
                return found
        if resolved.__module__.split(".")[0] == "pandas":
            raise _unsupported(what, shown, True)
        if issubclass(resolved, bytes | bytearray):
            return InputKind.BYTES
        if issubclass(resolved, PurePath):
            return InputKind.PATH
        return InputKind.VALUE
    if any(_frame_kind(member) is not None for member in typing.get_args(resolved)):
        raise _unsupported(what, shown, False)
    return InputKind.VALUE


def _frame_kind(annotation: object) -> InputKind | None:
    if not isinstance(annotation, type):
        return None
    for kind_type in annotation.__mro__:
        found = _KINDS_BY_TYPE.get(f"{kind_type.__module__}.{kind_type.__qualname__}")
        if found is not None:
            return found
    return None


def declared_type(annotation: object, scope: Mapping[str, Any] | None) -> object | None:
    """The type an annotation names (its text, when it names nothing importable);
    None for no annotation, `Any` and `object`, which take whatever is stored."""
    if annotation is inspect.Parameter.empty:
        return None
    resolved = annotation
    if isinstance(annotation, str):
        resolved = _evaluated(annotation, scope)
        if resolved is _UNRESOLVED:
            text = annotation.replace(" ", "")
            return None if text in ("Any", "typing.Any", "t.Any", "object") else annotation
    return None if resolved is Any or resolved is object else resolved


def implied_store(annotation: object, scope: Mapping[str, Any] | None) -> Stores | None:
    """What an asset's return annotation says it stores when it names no IO manager:
    `-> dict` and `-> list` (`dict[str, int]`...) JSON, `-> bytes` and `-> Path` a file,
    `-> None` nothing (a side effect); anything else, None (the project's default, for
    frames). Never pickle: that is for the user to choose."""
    if annotation is inspect.Signature.empty:
        return None
    resolved = annotation
    if isinstance(annotation, str):
        resolved = _evaluated(annotation, scope)
        if resolved is _UNRESOLVED:
            return None
    if resolved is None or resolved is type(None):
        return Stores.NOTHING
    origin = typing.get_origin(resolved) or resolved
    if origin is dict or origin is list:
        return Stores.JSON
    if isinstance(origin, type) and (issubclass(origin, bytes) or issubclass(origin, Path)):
        return Stores.FILES
    return None


_KINDS_BY_TYPE = {
    "polars.dataframe.frame.DataFrame": InputKind.EAGER,
    "polars.lazyframe.frame.LazyFrame": InputKind.LAZY,
    "pyarrow.lib.Table": InputKind.ARROW,
}
# string annotations that name no importable object at run time (imports under
# TYPE_CHECKING), read by their text
_KINDS_BY_TEXT = {
    **dict.fromkeys(("DataFrame", "pl.DataFrame", "polars.DataFrame"), InputKind.EAGER),
    **dict.fromkeys(("LazyFrame", "pl.LazyFrame", "polars.LazyFrame"), InputKind.LAZY),
    **dict.fromkeys(("Table", "pa.Table", "pyarrow.Table"), InputKind.ARROW),
    **dict.fromkeys(("Any", "typing.Any", "t.Any"), InputKind.EAGER),
    **dict.fromkeys(("Path", "pathlib.Path"), InputKind.PATH),
}
_UNRESOLVED = object()


def _evaluated(text: str, scope: Mapping[str, Any] | None) -> object:
    """The object a string annotation names in the function's globals, else _UNRESOLVED."""
    if scope is None:
        return _UNRESOLVED
    try:
        return eval(text, dict(scope))  # an annotation is the user's own code, as typing does
    except Exception:
        return _UNRESOLVED


def _unsupported(what: str, shown: str, is_pandas: bool) -> DefinitionError:
    if is_pandas:
        return DefinitionError(
            f"{what} is annotated {shown!r}, a pandas DataFrame, but assay hands over polars: "
            "annotate it pl.DataFrame and call `.to_pandas()` on it inside the function"
        )
    return DefinitionError(
        f"{what} is annotated {shown!r}, which assay cannot hand over: annotate it "
        "pl.DataFrame (or leave it unannotated), pl.LazyFrame or pa.Table"
    )


def _dep_key(dep: str | AssetKey | AssetSpec) -> AssetKey:
    if isinstance(dep, AssetSpec):
        return dep.key
    return AssetKey.parse(dep)


def _check_name(value: str, what: str, where: str) -> str:
    return check_name(value, what, where)


def _check_tags(tags: Mapping[str, str], where: str) -> dict[str, str]:
    checked: dict[str, str] = {}
    for tag_key, tag_value in tags.items():
        if not isinstance(tag_key, str) or not isinstance(tag_value, str):
            raise DefinitionError(
                f"{where}: tag {tag_key!r}={tag_value!r} must map a string to a string"
            )
        checked[_check_name(tag_key, "tag key", where)] = tag_value
    return checked


@overload
def source_asset(fn: Callable[..., Any], /) -> AssetSpec: ...


@overload
def source_asset(
    fn: str,
    /,
    *,
    key_prefix: str | Iterable[str] | None = None,
    group: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Iterable[str] | None = None,
    description: str | None = None,
    partitions: PartitionsDefinition | None = None,
    io: IOManager | str | None = None,
    observe_every: timedelta | None = None,
) -> AssetSpec: ...


@overload
def source_asset(
    *,
    key_prefix: str | Iterable[str] | None = None,
    group: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Iterable[str] | None = None,
    description: str | None = None,
    partitions: PartitionsDefinition | None = None,
    io: IOManager | str | None = None,
    observe_every: timedelta | None = None,
) -> Callable[[Callable[..., Any]], AssetSpec]: ...


def source_asset(
    fn: Callable[..., Any] | str | None = None,
    /,
    *,
    key_prefix: str | Iterable[str] | None = None,
    group: str | None = None,
    tags: Mapping[str, str] | None = None,
    owners: Iterable[str] | None = None,
    description: str | None = None,
    partitions: PartitionsDefinition | None = None,
    io: IOManager | str | None = None,
    observe_every: timedelta | None = None,
) -> AssetSpec | Callable[[Callable[..., Any]], AssetSpec]:
    """Declare data that assay does not produce (files dropped in a folder, a table).

    Decorate an observe function to let assay notice when the data changes: it
    returns the current data version (a string), or, for a partitioned source, a
    dict from partition key to version. `assay observe` records what it returns;
    a changed version makes the partitions downstream stale. Without an observe
    function, give the name: `exports = source_asset("exports")`. With
    `observe_every`, the daemon observes it on that interval and runs what its
    changes make stale (a sensor named `observe-<key>`).

    Example:
        >>> @source_asset(group="raw")
        ... def order_files() -> str:
        ...     "Daily CSV exports from the shop."
        ...     return "2024-06-01T00:00"
        >>> order_files.is_source
        True
    """

    def decorate(func: Callable[..., Any] | None, name: str | None = None) -> AssetSpec:
        where = f"@source_asset {name or getattr(func, '__qualname__', func)!r}"
        wants_context = False
        resources: frozenset[str] = frozenset()
        if func is not None:
            params = set(inspect.signature(func).parameters)
            resources = frozenset(params - {CONTEXT_PARAM})  # each must name a resource
            wants_context = CONTEXT_PARAM in params
        if observe_every is not None and (
            func is None
            or not isinstance(observe_every, timedelta)
            or observe_every <= timedelta(0)
        ):
            raise DefinitionError(
                f"{where}: observe_every needs an observe function and a positive timedelta"
            )
        prefix = () if key_prefix is None else AssetKey.parse(as_key_text(key_prefix)).path
        key_name = name if name is not None else getattr(func, "__name__", "")
        return AssetSpec(
            key=AssetKey((*prefix, key_name)),
            fn=func if func is not None else not_observable,
            group=_check_name(group or DEFAULT_GROUP, "group", where),
            tags=_check_tags(tags or {}, where),
            owners=tuple(owners or ()),
            description=description if description is not None else inspect.getdoc(func),
            wants_context=wants_context,
            io=io,
            partitions=_check_partitions(partitions, where),
            is_source=True,
            code_version="source",
            observe_every=observe_every,
            resource_params=resources,
        )

    if isinstance(fn, str):
        return decorate(None, fn)
    if fn is not None:
        return decorate(fn)
    return decorate
