"""`@asset_check` and `CheckResult`: quality checks that judge an asset's data.

A check is a function of the asset's value (its one data parameter, loaded
like an input: `pl.DataFrame`, `pl.LazyFrame` or `pa.Table` by annotation,
plus `context` if it asks) that returns `bool` or a `CheckResult`. Checks run
on every output before it is stored, per partition, and from `assay check`
against what is stored.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from assay.assets import declared_type, input_kind
from assay.errors import DefinitionError
from assay.keys import AssetKey
from assay.spec import CONTEXT_PARAM, AssetSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from assay.io.base import InputKind

Severity = Literal["error", "warn"]
SEVERITIES = ("error", "warn")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a check function may return instead of a bool.

    >>> CheckResult(passed=False, metadata={"negative_rows": 3}).passed
    False
    """

    passed: bool
    metadata: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True, kw_only=True, eq=False)
class CheckSpec:
    """A declared asset check (compared by identity)."""

    name: str
    asset: AssetKey | str
    fn: Callable[..., Any]
    param: str
    kind: InputKind
    wants_context: bool
    blocking: bool
    severity: Severity
    description: str | None
    value_type: object | None = None  # what the parameter is annotated (None: nothing, Any)
    resource_params: frozenset[str] = frozenset()  # parameters after the value: resources

    @property
    def asset_name(self) -> str:
        return str(self.asset)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def asset_check(
    *,
    asset: str | AssetKey | AssetSpec,
    name: str | None = None,
    blocking: bool = False,
    severity: Severity = "error",
    description: str | None = None,
) -> Callable[[Callable[..., Any]], CheckSpec]:
    """Declare a check on `asset`'s data, run per partition after each materialization.

    With `blocking=True` and `severity="error"`, a failing check keeps the output
    from being stored and skips the steps downstream that read it; otherwise a
    failure is recorded and the run goes on. `assay check` exits 1 when an
    error-severity check fails.

    Example:
        >>> import polars as pl
        >>> @asset_check(asset="orders", blocking=True)
        ... def no_negative_amounts(orders: pl.DataFrame) -> CheckResult:
        ...     bad = orders.filter(pl.col("amount") < 0).height
        ...     return CheckResult(passed=bad == 0, metadata={"negative_rows": bad})
        >>> no_negative_amounts.name, no_negative_amounts.blocking
        ('no_negative_amounts', True)
    """

    def decorate(fn: Callable[..., Any]) -> CheckSpec:
        where = f"@asset_check on {getattr(fn, '__qualname__', fn)!r}"
        target = asset.key if isinstance(asset, AssetSpec) else asset
        if not isinstance(target, str | AssetKey):
            raise DefinitionError(f"{where}: asset={asset!r} must be an asset, its key or its name")
        if severity not in SEVERITIES:
            raise DefinitionError(f"{where}: severity={severity!r}; use 'error' or 'warn'")
        params = inspect.signature(fn).parameters
        data = [p for p in params if p != CONTEXT_PARAM]
        if not data:
            raise DefinitionError(
                f"{where}: a check takes the asset's value as its first parameter (then "
                "`context` and resources, optionally), got none"
            )
        check_name = name or fn.__name__
        try:
            AssetKey((check_name,))
        except DefinitionError:
            raise DefinitionError(
                f"{where}: invalid check name {check_name!r}: use letters, digits and '_'"
            ) from None
        return CheckSpec(
            name=check_name,
            asset=target,
            fn=fn,
            param=data[0],
            kind=input_kind(
                params[data[0]].annotation,
                what=f"{where}: parameter {data[0]!r}",
                scope=getattr(fn, "__globals__", None),
            ),
            value_type=declared_type(params[data[0]].annotation, getattr(fn, "__globals__", None)),
            wants_context=CONTEXT_PARAM in params,
            resource_params=frozenset(data[1:]),
            blocking=blocking,
            severity=severity,
            description=description if description is not None else inspect.getdoc(fn),
        )

    return decorate
