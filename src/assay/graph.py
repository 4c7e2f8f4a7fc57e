"""The asset graph: resolved inputs, edges, topological order, and its validation."""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from assay.errors import DefinitionError, UnknownAssetError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from assay.checks import CheckSpec
    from assay.run_config import AssetConfig
    from assay.spec import AssetSpec
from assay.keys import AssetKey
from assay.partitions.mapping import PartitionMapping, default_mapping

_T = TypeVar("_T")
# (id of a graph, name) -> the graph (kept: its id stays its own) and what was derived
_DERIVED: dict[tuple[int, str], tuple[object, object]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetGraph:
    """Assets and their dependencies, validated: no cycle, no dangling input, no duplicate."""

    specs: Mapping[AssetKey, AssetSpec]
    inputs: Mapping[AssetKey, Mapping[str, AssetKey]]
    upstream: Mapping[AssetKey, tuple[AssetKey, ...]]
    downstream: Mapping[AssetKey, tuple[AssetKey, ...]]
    order: tuple[AssetKey, ...]
    mappings: Mapping[AssetKey, Mapping[AssetKey, PartitionMapping]]
    checks: Mapping[AssetKey, tuple[CheckSpec, ...]]
    # per asset, the parameters that receive a resource (each named after its resource)
    resources: Mapping[AssetKey, tuple[str, ...]] = field(default_factory=dict)
    # per asset with a `config` parameter, the configuration its runs use
    configs: Mapping[AssetKey, AssetConfig] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        specs: Iterable[AssetSpec],
        checks: Iterable[CheckSpec] = (),
        *,
        resources: Iterable[str] = (),
    ) -> AssetGraph:
        """Resolve inputs, deps and checks to keys and validate the result.

        `resources` are the names of the project's resources: a parameter named after
        one receives it (unless `ins=` says it is an input).

        Raises:
            DefinitionError: duplicate keys or check names, ambiguous inputs, a cycle,
                a parameter annotated as a resource that the project does not have.
            UnknownAssetError: an input, dep or check target that matches no asset.
        """
        by_key: dict[AssetKey, AssetSpec] = {}
        for spec in specs:
            if spec.key in by_key and by_key[spec.key] is not spec:
                raise DefinitionError(
                    f"duplicate asset key {str(spec.key)!r}: defined at "
                    f"{by_key[spec.key].source_location} and {spec.source_location}. "
                    "Rename one (name=...) or give it a key_prefix."
                )
            by_key[spec.key] = spec
        for spec in by_key.values():
            missing = [k for k in spec.multi.outputs if k not in by_key] if spec.multi else []
            if missing:
                raise DefinitionError(
                    f"asset {str(spec.key)!r} is an output of @multi_asset {spec.multi.name!r} "  # type: ignore[union-attr]
                    f"but {str(missing[0])!r}, another, is not in the definitions: give the "
                    "multi-asset itself (Definitions(assets=[...]))"
                )
        resolver = _Resolver(by_key, frozenset(resources))
        used = {key: resolver.resources_of(spec) for key, spec in by_key.items()}
        inputs = {key: resolver.inputs_of(spec) for key, spec in by_key.items()}
        upstream: dict[AssetKey, tuple[AssetKey, ...]] = {}
        downstream: dict[AssetKey, list[AssetKey]] = defaultdict(list)
        for key, spec in by_key.items():
            ups = dict.fromkeys(
                [*inputs[key].values(), *(resolver.dep(spec, d) for d in spec.deps)]
            )
            upstream[key] = tuple(ups)
            for up in ups:
                downstream[up].append(key)
        order = _topological_order(by_key, upstream, downstream)
        mappings = {
            key: _edge_mappings(spec, inputs[key], upstream[key], by_key)
            for key, spec in by_key.items()
        }
        return cls(
            specs=by_key,
            checks=_resolve_checks(checks, resolver, frozenset(resources)),
            inputs=inputs,
            upstream=upstream,
            downstream={key: tuple(sorted(downstream.get(key, ()))) for key in by_key},
            order=order,
            mappings=mappings,
            resources={key: names for key, names in used.items() if names},
            configs=_default_configs(by_key),
        )

    def configured(self, configs: Mapping[AssetKey, AssetConfig]) -> AssetGraph:
        """The same graph with `configs` as its assets' configuration."""
        return replace(self, configs={**self.configs, **configs})

    def derived(self, name: str, make: Callable[[AssetGraph], _T]) -> _T:
        """`make(self)`, made once per graph under `name` (a graph does not change):
        what a large graph's readers would otherwise work out on every call."""
        held = _DERIVED.get((id(self), name))
        if held is None or held[0] is not self:
            if len(_DERIVED) >= 256:
                _DERIVED.clear()
            held = _DERIVED[(id(self), name)] = (self, make(self))
        return held[1]  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        return key in self.specs

    def __len__(self) -> int:
        return len(self.specs)

    def ordered(self, keys: Iterable[AssetKey]) -> list[AssetKey]:
        """`keys` in dependency order."""
        wanted = set(keys)
        return [key for key in self.order if key in wanted]

    def upstream_of(self, keys: Iterable[AssetKey], depth: int | None = None) -> set[AssetKey]:
        """Every asset upstream of `keys` within `depth` hops (all when None), without them."""
        return _walk(self.upstream, keys, depth)

    def downstream_of(self, keys: Iterable[AssetKey], depth: int | None = None) -> set[AssetKey]:
        """Every asset downstream of `keys` within `depth` hops (all when None), without them."""
        return _walk(self.downstream, keys, depth)


def _resolve_checks(
    checks: Iterable[CheckSpec], resolver: _Resolver, resources: frozenset[str] = frozenset()
) -> dict[AssetKey, tuple[CheckSpec, ...]]:
    found: dict[AssetKey, list[CheckSpec]] = defaultdict(list)
    for check in checks:
        for param in sorted(check.resource_params - resources):
            raise DefinitionError(
                f"@asset_check {check.name!r} takes {param!r} after the asset's value, which "
                "names no resource: a check takes the value, then `context` and resources "
                f"(Definitions(resources={{{param!r}: ...}}))." + did_you_mean(param, resources)
            )
    for check in checks:
        what = f"@asset_check {check.name!r}"
        target = AssetKey.parse(check.asset) if isinstance(check.asset, str) else check.asset
        key = (
            resolver._exact(target, what)
            if target in resolver.by_key or len(target.path) > 1
            else resolver.by_unique_name(target.name, what)
        )
        if resolver.by_key[key].is_source:
            raise DefinitionError(
                f"{what} is on source asset {str(key)!r}: checks judge what assay "
                "materializes; check the first asset that reads it"
            )
        if any(c.name == check.name and c is not check for c in found[key]):
            raise DefinitionError(
                f"asset {str(key)!r} has two checks named {check.name!r}: give one name=..."
            )
        if check not in found[key]:
            found[key].append(check)
    return {key: tuple(items) for key, items in found.items()}


def _edge_mappings(
    spec: AssetSpec,
    inputs: Mapping[str, AssetKey],
    upstream: tuple[AssetKey, ...],
    by_key: Mapping[AssetKey, AssetSpec],
) -> dict[AssetKey, PartitionMapping]:
    """The partition mapping of each upstream edge: the input's own, else the default."""
    explicit = {
        inputs[param]: asset_in.partition_mapping
        for param, asset_in in spec.ins.items()
        if asset_in.partition_mapping is not None
    }
    found: dict[AssetKey, PartitionMapping] = {}
    for up in upstream:
        up_partitions = by_key[up].partitions
        try:
            mapping = explicit.get(up) or default_mapping(up_partitions, spec.partitions)
            mapping.check(up_partitions, spec.partitions)
        except DefinitionError as exc:
            raise DefinitionError(f"{spec.key} reading {up}: {exc}") from None
        found[up] = mapping
    return found


def _default_configs(by_key: Mapping[AssetKey, AssetSpec]) -> dict[AssetKey, AssetConfig]:
    if not any(spec.config_type is not None for spec in by_key.values()):
        return {}
    from assay.run_config import defaults

    return defaults(by_key)


class _Resolver:
    def __init__(self, by_key: Mapping[AssetKey, AssetSpec], resources: frozenset[str]) -> None:
        self.by_key = by_key
        self.resources = resources
        self.by_name: dict[str, list[AssetKey]] = defaultdict(list)
        for key in by_key:
            self.by_name[key.name].append(key)

    def resources_of(self, spec: AssetSpec) -> tuple[str, ...]:
        """The parameters of `spec` that receive a resource."""
        for param in sorted(spec.resource_params - self.resources):
            if spec.is_source:
                raise DefinitionError(
                    f"the observe function of source {spec.key} takes {param!r}, which names "
                    "no resource: an observe function takes only `context` and resources "
                    f"(Definitions(resources={{{param!r}: ...}}))."
                    + did_you_mean(param, self.resources)
                )
            raise DefinitionError(
                f"parameter {param!r} of {spec.key} is annotated as a resource, but the "
                f"project has no resource {param!r}: add Definitions(resources={{{param!r}: "
                "...})." + did_you_mean(param, self.resources)
            )
        found = set(spec.resource_params)
        for param in spec.ins:
            if param in self.resources and param not in spec.explicit_ins:
                if param in self.by_name:
                    raise DefinitionError(
                        f"parameter {param!r} of {spec.key} names both a resource and an "
                        f"asset: say ins={{{param!r}: AssetIn()}} to read the asset, or "
                        "rename the parameter or the resource"
                    )
                found.add(param)
        return tuple(sorted(found))

    def inputs_of(self, spec: AssetSpec) -> dict[str, AssetKey]:
        resolved = {}
        for param, asset_in in spec.ins.items():
            if param in self.resources and param not in spec.explicit_ins:
                continue  # a resource
            if param in spec.input_errors:
                raise DefinitionError(spec.input_errors[param])
            if asset_in.key is not None:
                resolved[param] = self._exact(asset_in.key, f"input {param!r} of {spec.key}")
            else:
                resolved[param] = self._by_name(param, spec, f"input {param!r} of {spec.key}")
        return resolved

    def dep(self, spec: AssetSpec, dep: AssetKey) -> AssetKey:
        if dep in self.by_key or len(dep.path) > 1:
            return self._exact(dep, f"dep {str(dep)!r} of {spec.key}")
        return self._by_name(dep.name, spec, f"dep {str(dep)!r} of {spec.key}")

    def _exact(self, key: AssetKey, what: str) -> AssetKey:
        if key in self.by_key:
            return key
        known = [str(k) for k in self.by_key]
        raise UnknownAssetError(
            f"{what} names {str(key)!r}, which matches no asset."
            f"{did_you_mean(str(key), known)} Run `assay list` to see every asset."
        )

    def by_unique_name(self, name: str, what: str) -> AssetKey:
        matches = self.by_name.get(name, [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            options = ", ".join(sorted(str(k) for k in matches))
            raise DefinitionError(f"{what} names {name!r}, which matches {options}: give the key")
        return self._exact(AssetKey((name,)), what)

    def _by_name(self, name: str, spec: AssetSpec, what: str) -> AssetKey:
        matches = self.by_name.get(name, [])
        if len(matches) > 1:
            same_prefix = [k for k in matches if k.path[:-1] == spec.key.path[:-1]]
            if len(same_prefix) == 1:
                return same_prefix[0]
            options = ", ".join(sorted(str(k) for k in matches))
            raise DefinitionError(
                f"{what} matches several assets ({options}); say which with "
                f"ins={{{name!r}: AssetIn(key=...)}}"
            )
        if matches:
            return matches[0]
        if name == "config":
            raise UnknownAssetError(
                f"{what} matches no asset: for run configuration, annotate it with a "
                "dataclass (config: ScoringConfig, see docs/config.md)"
            )
        raise UnknownAssetError(
            f"{what} matches no asset.{did_you_mean(name, self.by_name)} "
            "Rename the parameter, point it at an asset with ins={...: AssetIn(key=...)}, "
            "or run `assay list` to see every asset."
        )


def _topological_order(
    specs: Mapping[AssetKey, AssetSpec],
    upstream: Mapping[AssetKey, tuple[AssetKey, ...]],
    downstream: Mapping[AssetKey, list[AssetKey]],
) -> tuple[AssetKey, ...]:
    waiting = {key: len(upstream[key]) for key in specs}
    ready = [key for key, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[AssetKey] = []
    while ready:
        key = heapq.heappop(ready)
        order.append(key)
        for child in downstream.get(key, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) < len(specs):
        cycle = _find_cycle({k for k, n in waiting.items() if n > 0}, upstream)
        path = " -> ".join(str(k) for k in cycle)
        raise DefinitionError(
            f"assets form a cycle: {path}. Remove one of these dependencies to break it."
        )
    return tuple(order)


def _find_cycle(
    stuck: set[AssetKey], upstream: Mapping[AssetKey, tuple[AssetKey, ...]]
) -> list[AssetKey]:
    """A cycle among `stuck` nodes, as a closed path in dependency direction."""
    start = min(stuck)
    seen: dict[AssetKey, int] = {}
    path: list[AssetKey] = []
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(up for up in upstream[node] if up in stuck)
    cycle = [*path[seen[node] :], node]
    cycle.reverse()  # upstream walk -> print in data-flow order
    return cycle


def _walk(
    edges: Mapping[AssetKey, tuple[AssetKey, ...]],
    keys: Iterable[AssetKey],
    depth: int | None,
) -> set[AssetKey]:
    start = set(keys)
    found: set[AssetKey] = set()
    frontier = set(start)
    hops = 0
    while frontier and (depth is None or hops < depth):
        frontier = {n for key in frontier for n in edges.get(key, ())} - found - start
        found |= frontier
        hops += 1
    return found
