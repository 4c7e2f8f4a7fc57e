"""`Definitions`, and finding and loading the user's module that holds them."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import traceback
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.assets import declared_type
from assay.checks import CheckSpec
from assay.errors import ConfigError, DefinitionError, did_you_mean
from assay.graph import AssetGraph
from assay.io.base import InputKind, Stores, mismatch, stores_of
from assay.io.resolver import IOResolver, is_io_manager
from assay.multi_assets import MultiAsset
from assay.partitions.mapping import IdentityMapping, LastPartitionMapping
from assay.policies import RetryPolicy
from assay.resources import check_resources
from assay.run_config import project_layers, resolve
from assay.spec import AssetSpec
from assay.versioning.sources import add_project_root, capture_source, in_project, is_captured

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import ModuleType

    from assay.automation.alerts import Alert
    from assay.automation.schedules import Schedule
    from assay.automation.sensors import Sensor
    from assay.conditions import AutomationCondition, Freshness
    from assay.config import ProjectConfig
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.run_config import AssetConfig


class Definitions:
    """The assets of a project, and project-wide defaults.

    Example:
        >>> from assay import asset
        >>> @asset
        ... def numbers():
        ...     import polars as pl
        ...     return pl.DataFrame({"n": [1, 2, 3]})
        >>> defs = Definitions(assets=[numbers])
        >>> [str(k) for k in defs.graph.order]
        ['numbers']
    """

    def __init__(
        self,
        assets: Iterable[AssetSpec | MultiAsset] = (),
        *,
        checks: Iterable[CheckSpec] = (),
        io: IOManager | str | None = None,
        retry_policy: RetryPolicy | None = None,
        pools: Mapping[str, int] | None = None,
        schedules: Iterable[Schedule] = (),
        sensors: Iterable[Sensor] = (),
        alerts: Iterable[Alert] = (),
        automation: Mapping[str, AutomationCondition] | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        """`checks`: `@asset_check` functions. `io`: the default IO manager.
        `retry_policy`: the default for assets without one. `pools`: concurrency
        limits, by pool name (`@asset(pool=...)`) or by tag (`"tag:source=stripe"`,
        or `"tag:source"` for any value). `schedules` and `sensors`: what the
        daemon (`assay daemon`, `assay tick`) runs by itself. `alerts`:
        `Alert(on=[...], to=[...])`s, delivered by every run (see `assay.alerting`).
        `automation`: conditions by selection (`{"group:sales": Auto.on_stale()}`),
        for assets that declare none (the first selection that matches wins).
        `resources`: objects assets receive by naming a parameter after them (a
        connection, an API client, an IO manager `@asset(io="name")` refers to); see
        docs/resources.md. `io` may name one of them too."""
        self.assets = tuple(_flattened(assets))
        for item in self.assets:
            if not isinstance(item, AssetSpec):
                raise DefinitionError(
                    f"Definitions(assets=...) got {item!r}, which is not an asset: "
                    "decorate the function with @asset"
                )
        self.checks = tuple(checks)
        for check in self.checks:
            if not isinstance(check, CheckSpec):
                raise DefinitionError(
                    f"Definitions(checks=...) got {check!r}, which is not a check: "
                    "decorate the function with @asset_check"
                )
        self.resources = check_resources(resources)
        self.io = io
        _check_io_names(self.assets, io, self.resources)
        self._implied: dict[Stores, IOManager] = {}
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise DefinitionError(
                f"Definitions(retry_policy={retry_policy!r}): use RetryPolicy(max_retries=...)"
            )
        self.retry_policy = retry_policy
        self.pools = _check_pools(pools or {})
        self.schedules = tuple(schedules)
        self.sensors = tuple(sensors)
        _check_automation(self.schedules, self.sensors)
        if isinstance(alerts, str) or not hasattr(alerts, "__iter__"):
            raise DefinitionError(
                f"Definitions(alerts={alerts!r}): give a list of Alert(on=[...], to=[...])"
            )
        self.alerts, self.alert_targets = _check_alerts(alerts)
        self.automation = _check_conditions(automation or {}, self.assets)

    def retry_policy_of(self, spec: AssetSpec) -> RetryPolicy:
        """The asset's retry policy, else the project's, else no retries."""
        return spec.retry_policy or self.retry_policy or RetryPolicy()

    def pools_of(self, spec: AssetSpec) -> tuple[str, ...]:
        """The limited pools a step of this asset takes a slot in."""
        names = [spec.pool] if spec.pool else []
        for tag, value in spec.tags.items():
            names += [f"tag:{tag}={value}", f"tag:{tag}"]
        return tuple(name for name in names if name in self.pools)

    def io_resolver(self, config: ProjectConfig) -> IOResolver:
        """Each asset's IO manager (its own, else the one its return annotation implies,
        else `io`, else ParquetIO), bound to `config`."""
        own = {
            k: s.io if s.io is not None else self._implied_io(s)
            for k, s in self.graph.specs.items()
        }
        return IOResolver(own, self.io, config, self.resources)

    def _implied_io(self, spec: AssetSpec) -> IOManager | None:
        """The IO manager an asset without one gets from its return annotation (`-> dict`:
        JSONIO, `-> bytes`/`-> Path`: FileIO, `-> None`: nothing stored), unless the
        project's default stores something other than frames; one instance of each."""
        implied = spec.implied_store
        default = self._named(self.io)
        if implied is None or (default is not None and stores_of(default) is not Stores.FRAMES):
            return None
        if implied not in self._implied:
            if implied is Stores.JSON:
                from assay.io.json_values import JSONIO

                self._implied[implied] = JSONIO()
            elif implied is Stores.FILES:
                from assay.io.files import FileIO

                self._implied[implied] = FileIO()
            else:
                from assay.io.nothing import NothingIO

                self._implied[implied] = NothingIO()
        return self._implied[implied]

    def _named(self, io: IOManager | str | None) -> IOManager | None:
        """An IO manager, or the resource it names."""
        found: IOManager | None = self.resources[io] if isinstance(io, str) else io
        return found

    def stores(self, key: AssetKey) -> Stores | None:
        """What the asset's IO manager stores: frames, JSON values, objects, files or
        nothing (None: an IO manager that does not say)."""
        return self._stores(self.graph.specs[key])

    def _stores(self, spec: AssetSpec) -> Stores | None:
        """What the asset's IO manager stores (None: an IO manager that does not say)."""
        chosen = self._named(spec.io) if spec.io is not None else self._implied_io(spec)
        if chosen is None:
            default = self._named(self.io)
            return Stores.FRAMES if default is None else stores_of(default)
        return stores_of(chosen)

    @cached_property
    def graph(self) -> AssetGraph:
        """The validated asset graph (raises DefinitionError on the first problem)."""
        graph = AssetGraph.build(self.assets, self.checks, resources=self.resources)
        _check_types(graph, self._stores)
        return graph

    def configured(self, configs: Mapping[AssetKey, AssetConfig]) -> Definitions:
        """These definitions, their assets configured with `configs` (a run's)."""
        if not configs:
            return self
        made = copy.copy(self)
        made.__dict__["graph"] = self.graph.configured(configs)
        return made

    def resources_used(self, keys: Iterable[AssetKey]) -> list[str]:
        """The resources that steps of `keys` receive, or store through."""
        graph = self.graph
        keys = list(keys)
        names = {name for key in keys for name in graph.resources.get(key, ())}
        for key in keys:  # the checks of each judge its output in the step
            names.update(p for check in graph.checks.get(key, ()) for p in check.resource_params)
        for key in keys:
            chosen = graph.specs[key].io or self.io
            if isinstance(chosen, str):
                names.add(chosen)
        return sorted(names)


def _flattened(assets: Iterable[AssetSpec | MultiAsset]) -> Iterator[AssetSpec]:
    """Assets, each `@multi_asset` as its outputs."""
    for item in assets:
        if isinstance(item, MultiAsset):
            yield from item.specs
        else:
            yield item


def _check_io_names(
    assets: tuple[AssetSpec, ...], default: object, resources: Mapping[str, Any]
) -> None:
    """Each `io="name"` names a resource that is an IO manager."""
    named = [(f"@asset {spec.key}", spec.io) for spec in assets if isinstance(spec.io, str)]
    if isinstance(default, str):
        named.append(("Definitions(io=...)", default))
    for where, name in named:
        if name not in resources:
            raise DefinitionError(
                f"{where}: io={name!r} names no resource: add Definitions(resources="
                f"{{{name!r}: DuckDBIO(...)}}) or pass the IO manager itself."
                + did_you_mean(name, resources)
            )
        if not is_io_manager(resources[name]):
            raise DefinitionError(
                f"{where}: io={name!r} names resource {name!r}, which is not an IO manager "
                "(it has no write, load and bind): give it a DuckDBIO, ParquetIO or another"
            )


def _check_types(graph: AssetGraph, stores: Callable[[AssetSpec], Stores | None]) -> None:
    """Raise when an input, or a check, asks for another type than its upstream's IO
    manager stores (a dict of a Parquet asset, a frame of a JSON one), or a schema
    judges an asset that stores no frames."""
    for key, spec in graph.specs.items():
        if spec.schema is not None and stores(spec) not in (None, Stores.FRAMES):
            raise DefinitionError(
                f"asset {str(key)!r}: schema= validates frames, and this asset stores "
                f"{stores(spec)}; drop schema=, or check its value with an @asset_check"
            )
        for param, up in graph.inputs[key].items():
            upstream = stores(graph.specs[up])
            if upstream is None:
                continue
            kind, declared = spec.input_kinds[param], spec.input_types.get(param)
            if upstream is not Stores.FRAMES and _reads_many(graph, key, up):
                kind, declared = _per_partition(kind, declared)
            why = mismatch(upstream, kind, declared)
            if why is not None:
                raise DefinitionError(
                    f"input {param!r} of asset {str(key)!r} reads asset {str(up)!r}, which {why}"
                )
        for check in graph.checks.get(key, ()):
            own = stores(spec)
            if own is None or own is Stores.NOTHING:
                continue
            why = mismatch(own, check.kind, check.value_type)
            if why is not None:
                raise DefinitionError(
                    f"@asset_check {check.name!r} judges asset {str(key)!r}, which "
                    + why.replace("the input", f"parameter {check.param!r}")
                )


def _reads_many(graph: AssetGraph, key: AssetKey, up: AssetKey) -> bool:
    """Whether `key` reads several partitions of `up` at once (a dict of values, for IO
    managers of values), rather than one (identity, last partition) or an unpartitioned one."""
    if graph.specs[up].partitions is None:
        return False
    mapping = graph.mappings[key][up]
    return not isinstance(mapping, IdentityMapping | LastPartitionMapping)


def _per_partition(kind: InputKind, declared: object | None) -> tuple[InputKind, object | None]:
    """What each value of an input annotated `dict[str, X]` asks for (`X`); `dict`
    alone asks for nothing in particular."""
    import typing

    from assay.assets import input_kind

    if declared is dict:
        return InputKind.EAGER, None
    args = typing.get_args(declared)
    if typing.get_origin(declared) is dict and len(args) == 2:
        value_type = args[1]
        return input_kind(value_type, what="a dict's values"), declared_type(value_type, None)
    return kind, declared


def _check_alerts(alerts: Iterable[object]) -> tuple[tuple[Alert, ...], dict[str, Any]]:
    """`check_alerts`, imported only for a project that declares alerts (the
    automation package is not for every start-up)."""
    alerts = tuple(alerts)
    if not alerts:
        return (), {}
    from assay.automation.alerts import check_alerts

    return check_alerts(alerts)


def _check_automation(schedules: tuple[Schedule, ...], sensors: tuple[Sensor, ...]) -> None:
    if not schedules and not sensors:
        return
    from assay.automation.schedules import Schedule
    from assay.automation.sensors import Sensor

    names: set[str] = set()
    for item, kind in [(s, "Schedule") for s in schedules] + [(s, "Sensor") for s in sensors]:
        expected = Schedule if kind == "Schedule" else Sensor
        if not isinstance(item, expected):
            raise DefinitionError(
                f"Definitions({kind.lower()}s=...) got {item!r}, which is not a {kind}: "
                f"use {kind}(...) or the @{kind.lower()} decorator"
            )
        if item.name in names:
            raise DefinitionError(
                f"two schedules or sensors are named {item.name!r}: give each its own name"
            )
        names.add(item.name)


def _check_conditions(
    automation: Mapping[str, AutomationCondition], assets: tuple[AssetSpec, ...]
) -> dict[str, AutomationCondition]:
    """Conditions by selection, each a condition whose crons parse."""
    if not automation and all(s.automation is None and s.freshness is None for s in assets):
        return {}  # (assay.conditions is imported only where automation is declared)
    from assay.automation.cron import Cron
    from assay.conditions import AutomationCondition, Freshness, cron_parts

    if not isinstance(automation, Mapping):
        raise DefinitionError(
            f"Definitions(automation={automation!r}): give selections and conditions, like "
            '{"group:sales": Auto.on_stale()}'
        )
    checked: dict[str, AutomationCondition] = {}
    for selection, condition in automation.items():
        if not isinstance(selection, str) or not selection.strip():
            raise DefinitionError(
                f"Definitions(automation=...): {selection!r} is not a selection like 'group:sales'"
            )
        if not isinstance(condition, AutomationCondition):
            raise DefinitionError(
                f"Definitions(automation=...): {condition!r} for {selection!r} is not a condition; "
                "use Auto.on_stale(), Auto.on_cron(...), ..."
            )
        checked[selection] = condition
    named: list[tuple[str, AutomationCondition | Freshness | None]] = [
        *((f"automation of {spec.key}", spec.automation) for spec in assets),
        *((f"automation for {s!r}", c) for s, c in checked.items()),
        *(
            (f"freshness of {spec.key}", spec.freshness)
            for spec in assets
            if spec.freshness is not None and spec.freshness.deadline is not None
        ),
    ]
    for where, declared in named:
        crons = (
            [(declared.deadline, declared.timezone)]
            if isinstance(declared, Freshness) and declared.deadline is not None
            else cron_parts(declared if isinstance(declared, AutomationCondition) else None)
        )
        for expression, timezone in crons:
            try:
                Cron(expression, timezone)
            except DefinitionError as exc:
                raise DefinitionError(f"{where}: {exc}") from None
    return checked


def _check_pools(pools: Mapping[str, int]) -> dict[str, int]:
    checked = {}
    for name, limit in pools.items():
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"Definitions(pools=...): pool name {name!r} must be a string")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise DefinitionError(
                f"Definitions(pools=...): the limit of pool {name!r} is {limit!r}; "
                "give a whole number >= 1"
            )
        checked[name] = limit
    return checked


def load_definitions(config: ProjectConfig) -> Definitions:
    """Import the project's module or file and return its Definitions.

    A module without a `Definitions` object has its module-level assets collected.
    The source of every module of the project is kept as it is imported: code
    versions are made of what runs, even if a file is edited later.
    """
    if config.file is None and not config.module:
        raise ConfigError(
            "no assay module to load: pass -m MODULE or -f FILE, set ASSAY_MODULE, "
            f'or add [tool.assay] module = "..." to {config.root / "pyproject.toml"}'
        )
    roots = [config.root.resolve()]
    if config.file is not None:
        roots.append(config.file.resolve().parent)
    for root in roots:
        add_project_root(root)
    with _capturing_imports(roots):
        if config.file is not None:
            module = _import_file(config.file)
        else:
            module = _import_module(config.module, config.root)  # type: ignore[arg-type]
    _capture_imported(roots)
    definitions = definitions_of(module)
    layers = project_layers(config)
    if layers:
        return definitions.configured(resolve(definitions.graph.specs, layers))
    return definitions


class _CapturingLoader(importlib.machinery.SourceFileLoader):
    """Imports a module of the project and keeps the source it imported."""

    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        before = self.path_stats(path)
        code = super().get_code(fullname)
        data = self.get_data(path)
        if self.path_stats(path) != before:  # edited while imported: run what is kept
            code = self.source_to_code(data, path)
        capture_source(path, importlib.util.decode_source(data))
        return code


class _SourceCapture(importlib.abc.MetaPathFinder):
    """Finds modules as the finders after it do, and has those of the project's
    files imported by a `_CapturingLoader`."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = roots

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        found = None
        for finder in sys.meta_path[sys.meta_path.index(self) + 1 :]:
            find = getattr(finder, "find_spec", None)
            if find is not None and (found := find(fullname, path, target)) is not None:
                break
        if (
            found is not None
            and type(found.loader) is importlib.machinery.SourceFileLoader
            and any(in_project(found.origin, root) for root in self.roots)
        ):
            found.loader = _CapturingLoader(found.name, found.origin)
        return found


@contextlib.contextmanager
def _capturing_imports(roots: list[Path]) -> Iterator[None]:
    """While loading: the project's modules are imported through `_SourceCapture`
    (placed after the finders of built-in and frozen modules, which stay first)."""
    finder = _SourceCapture(roots)
    builtins = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
    at = next((i for i, f in enumerate(sys.meta_path) if f not in builtins), len(sys.meta_path))
    sys.meta_path.insert(at, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _capture_imported(roots: list[Path]) -> None:
    """Keep the source of project modules imported before the project was loaded
    (a notebook's, say), as their files read now: the best that can be known."""
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if (
            filename
            and not is_captured(filename)
            and any(in_project(filename, root) for root in roots)
        ):
            try:
                text = Path(filename).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            capture_source(filename, text)


def definitions_of(module: ModuleType) -> Definitions:
    """The module's `Definitions` object, or one made of its module-level assets."""
    found = [v for v in vars(module).values() if isinstance(v, Definitions)]
    if len(found) > 1:
        raise DefinitionError(
            f"module {module.__name__!r} has {len(found)} Definitions objects; keep exactly one"
        )
    if found:
        return found[0]
    assets = list(
        dict.fromkeys(
            spec
            for value in vars(module).values()
            if isinstance(value, AssetSpec | MultiAsset)
            for spec in ([value] if isinstance(value, AssetSpec) else value.specs)
        )
    )
    checks = list(dict.fromkeys(v for v in vars(module).values() if isinstance(v, CheckSpec)))
    if not assets:
        raise DefinitionError(
            f"module {module.__name__!r} ({module.__file__}) defines no assets: "
            "decorate functions with @asset or add a Definitions(assets=[...])"
        )
    return Definitions(assets=assets, checks=checks)


def _import_module(name: str, root: Path) -> ModuleType:
    root_text = str(root)
    if root_text not in sys.path:
        sys.path.insert(0, root_text)
    _forget_foreign(name, root)
    try:
        return _fresh(importlib.import_module(name))
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise ConfigError(
                f"cannot import module {name!r} from {root}: {exc}. "
                "Check the name, or run assay from the project's root folder."
            ) from exc
        raise _import_failure(name, exc) from exc
    except (Exception, SystemExit) as exc:
        raise _import_failure(name, exc) from exc


_IMPORTED_AT: dict[str, int] = {}


def _fresh(module: ModuleType) -> ModuleType:
    """The module, reloaded if its file changed since it was imported (notebooks, tests)."""
    origin = getattr(module, "__file__", None)
    if origin is None:
        return module
    mtime = Path(origin).stat().st_mtime_ns
    seen = _IMPORTED_AT.setdefault(module.__name__, mtime)
    if seen != mtime:
        module = importlib.reload(module)
        _IMPORTED_AT[module.__name__] = mtime
    return module


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise ConfigError(f"no such file {str(path)!r}: check the --file path")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"_assay_file_{path.stem}_{digest}"
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(
        name, path, loader=_CapturingLoader(name, str(path))
    )
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {str(path)!r} as Python: is it a .py file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        raise _import_failure(str(path), exc) from exc
    return module


def _forget_foreign(name: str, root: Path) -> None:
    """Drop a cached module of the same name from another project (tests, notebooks)."""
    cached = sys.modules.get(name)
    origin = getattr(cached, "__file__", None)
    if cached is None or origin is None or Path(origin).resolve().is_relative_to(root):
        return
    top = name.split(".")[0]
    for loaded in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        del sys.modules[loaded]


def _import_failure(name: str, exc: Exception | SystemExit) -> DefinitionError:
    if isinstance(exc, DefinitionError):
        return exc
    frames = list(traceback.extract_tb(exc.__traceback__))
    if isinstance(exc, SystemExit):
        # `exit()` and `quit()` raise from site's own code: name the caller's line
        frames = [f for f in frames if "_sitebuiltins" not in f.filename]
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    if isinstance(exc, SystemExit):
        code = 0 if exc.code is None else exc.code
        how = f"with code {code}" if isinstance(code, int) else f"with the message {code!r}"
        return DefinitionError(
            f"importing {name!r} exited {how}{where}: assay imports the module "
            "to read its assets, so it must not exit; put script code under "
            '`if __name__ == "__main__":`'
        )
    return DefinitionError(
        f"importing {name!r} failed{where}: {type(exc).__name__}: {exc}. "
        "Fix the module; `--debug` shows the traceback."
    )
