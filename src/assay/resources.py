"""Resources: the objects an asset uses but does not produce (a database connection,
an API client, a configured IO manager), and secrets read from the environment.

`Definitions(resources={"api": ShopApi(token=EnvVar("SHOP_TOKEN"))})` declares them;
an asset asks for one by naming a parameter after it. Each process that runs steps
builds its own copy of a resource the first time a step of a run needs it, with
every `EnvVar` replaced by the variable's value, calls its `setup()` if it has one,
and calls `teardown()` when the run ends (or the worker process exits). Nothing of a
resource crosses processes: a worker builds its own from the definitions it loaded.

Secrets stay where the resource is built: an `EnvVar`'s value is never journaled,
never in lineage, never shown by `assay runs show` or the UI.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import threading
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError, DefinitionError, MaterializationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping


class EnvVar(str):
    """A value read from the environment variable `name` where the resource is built.

    It is a `str` (the variable's name) so that it fits a field typed `str`; assay
    swaps it for the variable's value on the copy of the resource a run uses.

    >>> token = EnvVar("SHOP_TOKEN")
    >>> token.name, str(token)
    ('SHOP_TOKEN', 'SHOP_TOKEN')
    """

    __slots__ = ()

    def __new__(cls, name: str) -> EnvVar:
        if not isinstance(name, str) or not name or "=" in name or "\x00" in name:
            raise DefinitionError(
                f"EnvVar({name!r}): give the name of an environment variable, like "
                'EnvVar("SHOP_TOKEN")'
            )
        return super().__new__(cls, name)

    @property
    def name(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"EnvVar({self.name!r})"

    def get_value(self) -> str | None:
        """The variable's value now (None: not set)."""
        return os.environ.get(self.name)


class Resource:
    """A base for resources with a lifecycle; plain objects work too.

    `setup()` runs on the copy a run uses, once per run and process, before the first
    step that asks for it; `teardown()` when the run ends or the worker exits. Both do
    nothing by default. Subclasses are often dataclasses:

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class ShopApi(Resource):
    ...     base_url: str
    ...     token: str = EnvVar("SHOP_TOKEN")
    ...     def setup(self) -> None:
    ...         self.session = {"Authorization": f"Bearer {self.token}"}
    >>> ShopApi("http://127.0.0.1:8000").token
    EnvVar('SHOP_TOKEN')
    """

    def setup(self) -> None:
        """Open what the resource holds (a connection, a session)."""

    def teardown(self) -> None:
        """Close what `setup` opened."""


def is_io_manager(value: object) -> bool:
    """Whether `value` stores and loads asset values (has `write`, `load` and `bind`)."""
    return all(callable(getattr(value, name, None)) for name in ("write", "load", "bind"))


def check_resources(resources: Mapping[str, Any] | None) -> dict[str, Any]:
    """`Definitions(resources=...)`, checked: names that can be parameter names."""
    if resources is None:
        return {}
    if not hasattr(resources, "items"):
        raise DefinitionError(
            f"Definitions(resources={resources!r}): give a mapping of names to objects, "
            'like {"warehouse": DuckDBIO("warehouse.duckdb")}'
        )
    checked: dict[str, Any] = {}
    for name, value in resources.items():
        if not isinstance(name, str) or not name.isidentifier() or name in ("context", "config"):
            raise DefinitionError(
                f"Definitions(resources=...): {name!r} cannot name a resource: use a Python "
                "identifier other than `context` and `config` (assets ask for a resource by "
                "naming a parameter after it)"
            )
        if value is None:
            raise DefinitionError(f"Definitions(resources=...): resource {name!r} is None")
        checked[name] = value
    return checked


def env_vars(value: Any) -> list[str]:
    """The names of the `EnvVar`s a resource holds: in its attributes, in dicts, lists
    and tuples among them, and in the resources and dataclasses it holds."""
    if isinstance(value, EnvVar):
        return [value.name]
    if isinstance(value, dict):
        return [name for item in value.values() for name in env_vars(item)]
    if isinstance(value, list | tuple):
        return [name for item in value for name in env_vars(item)]
    found: list[str] = []
    for _, item in _attributes(value):
        found.extend(env_vars(item))
    return found


class Secret(str):
    """A value read from the environment: a `str` whose `repr` hides it, so that a
    resource's default `repr` (a dataclass's, in a log line or a traceback) shows
    `Secret('****')`, never the value. `str()`, f-strings and comparisons see it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('****')"


def check_environment(resources: Mapping[str, Any], names: Iterable[str]) -> None:
    """Raise before a run starts if a resource it uses reads an unset variable.

    Raises:
        ConfigError: the first resource whose `EnvVar` is not set, naming both.
    """
    for name in names:
        for variable in env_vars(resources[name]):
            if variable not in os.environ:
                raise ConfigError(
                    f"resource {name!r} reads the environment variable {variable} "
                    f"(EnvVar({variable!r})), which is not set: set it where assay runs "
                    "(its value is read there and never recorded)"
                )


def built(value: Any, name: str, *, made: list[Resource] | None = None) -> Any:
    """The resource with every `EnvVar` replaced by its value (a copy, when it holds
    any or has a lifecycle), set up: the resources it holds first. `made` collects
    every `Resource` set up, in order (to tear them down in reverse).

    Raises:
        MaterializationError: a variable is not set here, or a `setup()` failed,
            naming the resource.
    """
    if isinstance(value, EnvVar):
        resolved = value.get_value()
        if resolved is None:
            raise MaterializationError(
                f"resource {name!r} reads the environment variable {value.name}, which is "
                "not set in this process: set it wherever steps run (workers included)"
            )
        return Secret(resolved)
    if isinstance(value, dict):
        if not env_vars(value) and not _lifecycled(value):
            return value
        return {k: built(v, f"{name}.{k}", made=made) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if not env_vars(value) and not _lifecycled(value):
            return value
        items = [built(v, f"{name}[{n}]", made=made) for n, v in enumerate(value)]
        return type(value)(items) if isinstance(value, list) else tuple(items)
    holds = [(a, item) for a, item in _attributes(value) if env_vars(item) or _lifecycled(item)]
    if not holds and not isinstance(value, Resource):
        return value  # nothing to resolve and no lifecycle: shared as it is
    copied = copy.copy(value)
    for attribute, item in holds:
        object.__setattr__(copied, attribute, built(item, f"{name}.{attribute}", made=made))
    if isinstance(copied, Resource):
        try:
            copied.setup()
        except Exception as exc:
            raise MaterializationError(
                f"resource {name!r}: setup() failed: {type(exc).__name__}: {exc}"
            ) from exc
        if made is not None:
            made.append(copied)
    return copied


def _lifecycled(value: Any) -> bool:
    """Whether a value holds a `Resource` (whose setup must run)."""
    if isinstance(value, Resource):
        return True
    if isinstance(value, dict):
        return any(_lifecycled(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_lifecycled(v) for v in value)
    return False


def _attributes(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, type):
        return []
    if dataclasses.is_dataclass(value):
        return [(f.name, getattr(value, f.name, None)) for f in dataclasses.fields(value)]
    found = getattr(value, "__dict__", None)
    attributes = list(found.items()) if isinstance(found, dict) else []
    for slot in getattr(type(value), "__slots__", ()):
        if isinstance(slot, str) and hasattr(value, slot) and not slot.startswith("__"):
            attributes.append((slot, getattr(value, slot)))
    return attributes


class ResourceScope:
    """The resources of one run in one process: each built on first use, torn down
    by `close()` (in the reverse order of their building)."""

    def __init__(
        self,
        declared: Mapping[str, Any],
        run_id: str,
        *,
        bind: Callable[[Any], Any] | None = None,
    ) -> None:
        """`bind`: what an IO manager resource becomes before a step receives it (bound
        to the project, as the IO managers that store assets are)."""
        self.declared = declared
        self.run_id = run_id
        self.bind = bind
        self._built: dict[str, Any] = {}
        self._made: dict[str, list[Resource]] = {}  # what each set up, nested ones first
        self._lock = threading.Lock()

    def get(self, name: str) -> Any:
        with self._lock:
            if name not in self._built:
                made: list[Resource] = []
                try:
                    value = built(self.declared[name], name, made=made)
                except BaseException:
                    _teardown(made, name, [])  # what was set up before the failure
                    raise
                if self.bind is not None and is_io_manager(value):
                    value = self.bind(value)
                self._built[name] = value
                self._made[name] = made
            return self._built[name]

    def close(self) -> list[str]:
        """Tear down what was built, in reverse order (a resource before the ones it
        holds); return the failures as messages (never raises: a run's outcome does not
        depend on a teardown)."""
        failures: list[str] = []
        with self._lock:
            made, self._made, self._built = self._made, {}, {}
        for name, resources in reversed(made.items()):
            _teardown(resources, name, failures)
        return failures


def _teardown(resources: list[Resource], name: str, failures: list[str]) -> None:
    for resource in reversed(resources):
        try:
            resource.teardown()
        except Exception as exc:
            failures.append(f"resource {name!r}: teardown failed: {type(exc).__name__}: {exc}")
