"""Run configuration: typed values an asset receives through a `config` parameter.

An asset declares its configuration as a dataclass (`config: ScoringConfig`). Values
come, each layer over the one before, from the dataclass's defaults, from
`[tool.assay.config]` in pyproject.toml, from the file (or inline JSON) named by
`ASSAY_CONFIG`, from `--config FILE` (JSON, YAML or TOML) and from `--set
asset.field=value` (or `config=` in Python). A document maps asset keys to their
fields: `{"scored": {"threshold": 0.1}}`.

Values are checked against the dataclass's field types before anything runs. The
values a partition was materialized with are part of its provenance: other values
make it stale ("config changed: threshold 0.05 → 0.1").

Why dataclasses rather than pydantic models: they are the standard library's (no
import for a project that declares none, and nothing for a worker to install), they
are what the rest of assay's API is made of, and a configuration must be plain,
JSON-shaped data anyway, to be recorded and compared: the checks a dataclass lacks
(types of values read from a file or the command line) are the ones done here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError, DefinitionError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from assay.config import ProjectConfig
    from assay.keys import AssetKey
    from assay.spec import AssetSpec

ENV_VAR = "ASSAY_CONFIG"


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetConfig:
    """One asset's configuration for a run: the value its function receives, as
    canonical JSON (what is recorded), and a digest of that JSON."""

    value: Any
    json: str
    digest: str

    @classmethod
    def of(cls, value: Any) -> AssetConfig:
        import xxhash

        text = canonical_json(plain_values(value))
        return cls(value=value, json=text, digest=xxhash.xxh3_64_hexdigest(text.encode()))


class Text(str):
    """A value typed on a command line or in the environment: read by the field's type."""

    __slots__ = ()


Layer = tuple[str, "Mapping[str, Any]"]  # where the values come from, and the document


# --- declaring ----------------------------------------------------------------------


def check_config_class(cls: object, *, where: str) -> type:
    """`cls` if it is a dataclass whose fields assay can read and record.

    Raises:
        DefinitionError: not a dataclass, a field of a type that has no JSON form, or
            a default that is a secret (`EnvVar`: configuration is recorded).
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise DefinitionError(
            f"{where} is annotated {getattr(cls, '__name__', cls)!r}, not a dataclass: "
            "declare the configuration as a @dataclass whose fields are its values"
        )
    hints = _hints(cls, where)
    for item in dataclasses.fields(cls):
        _check_type(hints[item.name], f"{where} field {item.name!r}")
    _no_secret_defaults(cls, where)
    return cls


def _no_secret_defaults(cls: type, where: str) -> None:
    """Refuse an `EnvVar` among the defaults (factories' too), nested dataclasses
    included: configuration is recorded, secrets are not."""
    from assay.resources import env_vars

    hints = _hints(cls, where)
    for item in dataclasses.fields(cls):
        default = item.default
        if item.default_factory is not dataclasses.MISSING:
            try:
                default = item.default_factory()
            except Exception:
                default = None
        found = env_vars(default) if default is not dataclasses.MISSING else []
        if found:
            raise DefinitionError(
                f"{where} field {item.name!r} defaults to EnvVar({found[0]!r}): configuration "
                "is recorded with every materialization, so secrets belong in a resource "
                "(docs/resources.md)"
            )
        nested = hints[item.name]
        if isinstance(nested, type) and dataclasses.is_dataclass(nested):
            _no_secret_defaults(nested, f"{where} field {item.name!r}")


def _hints(cls: type, where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise DefinitionError(
            f"{where}: cannot read the field types of {cls.__name__}: {exc}"
        ) from None


_SCALARS = (str, int, float, bool, date, datetime, Path)


def _check_type(tp: Any, where: str) -> None:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is type(None) or tp in _SCALARS:
        return
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp, where)
        for item in dataclasses.fields(tp):
            _check_type(hints[item.name], f"{where}.{item.name}")
        return
    if origin is typing.Literal:
        return
    if origin in (typing.Union, types.UnionType) or origin in (list, tuple, set, frozenset):
        for arg in args:
            if arg is not Ellipsis:
                _check_type(arg, where)
        return
    if origin is dict and args and args[0] is str:
        _check_type(args[1], where)
        return
    raise DefinitionError(
        f"{where} has type {_shown(tp)}, which a configuration file cannot hold: use str, "
        "int, float, bool, date, datetime, Path, an Enum, a Literal, a nested dataclass, "
        "or lists and dicts (with str keys) of those"
    )


# --- resolving ----------------------------------------------------------------------


def project_layers(config: ProjectConfig) -> list[Layer]:
    """The layers every run starts from: `[tool.assay.config]`, then `ASSAY_CONFIG`.

    Raises:
        ConfigError: the file `ASSAY_CONFIG` names cannot be read or parsed.
    """
    table, root = config.config_table, config.root
    layers: list[Layer] = []
    if table:
        layers.append((f"[tool.assay.config] in {root / 'pyproject.toml'}", table))
    named = os.environ.get(ENV_VAR, "").strip()
    if named.startswith("{"):
        layers.append((ENV_VAR, _parsed_json(named, ENV_VAR)))
    elif named:
        path = Path(named).expanduser()
        layers.append(read_file(path if path.is_absolute() else root / path, via=ENV_VAR))
    return layers


def read_file(path: Path, *, via: str = "--config") -> Layer:
    """A configuration file (.json, .yaml/.yml or .toml) as a layer.

    Raises:
        ConfigError: it cannot be read or parsed, or is not a mapping of assets.
    """
    where = f"{via} {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        return where, _parsed_json(text, where)
    if suffix in (".yaml", ".yml"):
        import yaml  # type: ignore[import-untyped]

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{where} is not valid YAML{line}: {problem}") from None
    elif suffix == ".toml":
        import tomllib

        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    else:
        raise ConfigError(f"{where}: name a .json, .yaml, .yml or .toml file")
    return where, _document(document, where)


def inline_json(text: str, where: str) -> Layer:
    """A layer given as JSON text (`--config '{"scored": {...}}'`, `ASSAY_CONFIG`)."""
    return where, _parsed_json(text, where)


def _parsed_json(text: str, where: str) -> Mapping[str, Any]:
    try:
        return _document(json.loads(text), where)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None


def _document(document: Any, where: str) -> Mapping[str, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"{where} must map asset keys to their fields, like "
            '{"scored": {"threshold": 0.1}}; got ' + type(document).__name__
        )
    return document


def set_layer(assignments: Iterable[str]) -> Layer:
    """`--set asset.field=value` options as a layer (nested fields: `asset.a.b=...`).

    Raises:
        ConfigError: an assignment without `=` or without a field.
    """
    document: dict[str, Any] = {}
    for assignment in assignments:
        target, sep, value = assignment.partition("=")
        asset, dot, field_path = target.strip().partition(".")
        if not sep or not dot or not asset or not field_path:
            raise ConfigError(
                f"--set {assignment!r}: write ASSET.FIELD=VALUE, like --set scored.threshold=0.1"
            )
        node = document.setdefault(asset, {})
        *parents, last = field_path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = Text(value)
    return "--set", document


def resolve(
    specs: Mapping[AssetKey, AssetSpec],
    layers: Sequence[Layer],
    *,
    only: Iterable[str] | None = None,
) -> dict[AssetKey, AssetConfig]:
    """The configuration of every asset that declares one (with `only`, of the assets
    those names say), from `layers` over its dataclass's defaults.

    A layer's values are dicts of fields, or instances of the asset's dataclass
    (from Python), which replace what is below them. The outputs of a `@multi_asset`
    share one configuration: a layer names any one of them, or the multi-asset's
    function name.

    Raises:
        ConfigError: a layer names an asset that does not exist or takes no
            configuration, a field it does not have, or a value of the wrong type;
            a multi-asset twice; or a field without a default is given nowhere.
    """
    by_name: dict[str, list[AssetKey]] = {}
    for key in specs:
        by_name.setdefault(key.name, []).append(key)
    owners = _owners(specs)
    merged: dict[AssetKey, Any] = {}
    origin: dict[AssetKey, str] = {}
    for where, document in layers:
        named: dict[AssetKey, str] = {}
        values_of: dict[AssetKey, Any] = {}
        for name, values in document.items():
            owner = owners[_asset_of(str(name), specs, by_name, where)]
            if owner in values_of and plain_values(values_of[owner]) == plain_values(values):
                continue  # a multi-asset's outputs, recorded with the same values
            spec = specs[owner]
            if spec.config_type is None:
                raise ConfigError(
                    f"{where}: asset {str(owner)!r} takes no configuration (it has no "
                    "`config` parameter annotated with a dataclass)"
                )
            if owner in named:
                multi = spec.multi.name if spec.multi is not None else str(owner)
                raise ConfigError(
                    f"{where} configures @multi_asset {multi!r} twice ({named[owner]!r} and "
                    f"{str(name)!r}): its outputs share one configuration, give it once"
                )
            named[owner] = str(name)
            values_of[owner] = values
            label = f"configuration of {str(owner)!r}"
            if isinstance(values, spec.config_type):
                build(spec.config_type, plain_values(values), where=label, origin=where)  # checked
                merged[owner] = values
            elif isinstance(values, dict):
                base = merged.get(owner)
                base = (
                    plain_values(base) if base is not None and not isinstance(base, dict) else base
                )
                merged[owner] = _merge(base or {}, values)
            else:
                raise ConfigError(
                    f"{where}: the configuration of {str(owner)!r} must be a mapping of its "
                    f"fields, got {values!r}"
                )
            origin[owner] = where
    wanted = None
    if only is not None:
        wanted = {owners[_asset_of(str(n), specs, by_name, "config")] for n in only}
    found: dict[AssetKey, AssetConfig] = {}
    for key, spec in specs.items():
        owner = owners[key]
        if spec.config_type is None or (wanted is not None and owner not in wanted):
            continue
        if owner not in found:
            given = merged.get(owner, {})
            value = (
                given
                if isinstance(given, spec.config_type)
                else build(
                    spec.config_type,
                    given,
                    where=f"configuration of {str(owner)!r}",
                    origin=origin.get(owner),
                )
            )
            found[owner] = AssetConfig.of(value)
        found[key] = found[owner]
    return found


def _owners(specs: Mapping[AssetKey, AssetSpec]) -> dict[AssetKey, AssetKey]:
    """Each asset -> the asset whose configuration it has: a multi-asset's outputs all
    have their first output's."""
    owners = {}
    for key, spec in specs.items():
        owners[key] = key if spec.multi is None else next(iter(spec.multi.outputs))
    return owners


def defaults(specs: Mapping[AssetKey, AssetSpec]) -> dict[AssetKey, AssetConfig]:
    """The configuration of each asset whose dataclass has a default for every field."""
    found = {}
    for key, spec in specs.items():
        if spec.config_type is None:
            continue
        try:
            found[key] = AssetConfig.of(build(spec.config_type, {}, where=""))
        except ConfigError:
            continue
    return found


def _asset_of(
    name: str,
    specs: Mapping[AssetKey, AssetSpec],
    by_name: Mapping[str, list[AssetKey]],
    where: str,
) -> AssetKey:
    for key in specs:
        if str(key) == name.strip("/"):
            return key
    for key, spec in specs.items():
        if spec.multi is not None and spec.multi.name == name:
            return key
    matches = by_name.get(name, [])
    if len(matches) == 1:
        return matches[0]
    if matches:
        options = ", ".join(sorted(str(k) for k in matches))
        raise ConfigError(f"{where}: {name!r} matches {options}: give the asset's whole key")
    known = [str(k) for k, s in specs.items() if s.config_type is not None]
    raise ConfigError(
        f"{where} configures {name!r}, which is no asset.{did_you_mean(name, known)} "
        f"Assets with configuration: {', '.join(known) or 'none'}"
    )


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = _merge(out[name], value)
        else:
            out[name] = value
    return out


def build(cls: type, values: Mapping[str, Any], *, where: str, origin: str | None = None) -> Any:
    """An instance of the dataclass `cls` from plain values, each checked (and, for
    values typed as text, read) by its field's type.

    Raises:
        ConfigError: an unknown field, a missing one, or a value of the wrong type.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    source = f" (from {origin})" if origin else ""
    unknown = [name for name in values if name not in fields]
    if unknown:
        raise ConfigError(
            f"{where}: no field {unknown[0]!r}{source}.{did_you_mean(str(unknown[0]), fields)} "
            f"Fields of {cls.__name__}: {', '.join(fields)}"
        )
    kwargs = {}
    for name, item in fields.items():
        if name in values:
            kwargs[name] = _coerce(values[name], hints[name], f"{where}: {name}", source)
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"{where}: field {name!r} has no default and no value: give it with "
                f"--set ASSET.{name}=..., --config FILE or [tool.assay.config]"
            )
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, where: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    is_text = isinstance(value, Text)

    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{where}: expected {expected}, got {value!r}{source}")

    if tp is Any:
        return _read_json_text(value) if is_text else value
    if tp is type(None):
        if value is None or (is_text and value.strip().lower() in ("", "null", "none")):
            return None
        raise wrong("null")
    if origin in (typing.Union, types.UnionType):
        is_null = value is None or (is_text and value.strip().lower() in ("null", "none"))
        if is_null and type(None) in args:
            return None
        errors = []
        for arg in sorted(args, key=lambda a: a is str):  # text last: 1 stays a number
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where, source)
            except ConfigError as exc:
                errors.append(exc)
        raise wrong(" or ".join(_shown(a) for a in args))
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (is_text and str(choice) == value):
                return choice
        raise wrong("one of " + ", ".join(repr(a) for a in args))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if is_text and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise wrong("true or false")
    if tp in (int, float):
        allowed = int if tp is int else int | float
        number = None
        if isinstance(value, allowed) and not isinstance(value, bool):
            number = tp(value)
        elif is_text:
            number = _number(value, tp)
        if number is None:
            raise wrong("a whole number" if tp is int else "a number")
        if not math.isfinite(number):
            raise wrong("a finite number")
        return number
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise wrong("text")
    if tp is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise wrong("a path")
    if tp in (date, datetime):
        if isinstance(value, tp) and (tp is datetime or not isinstance(value, datetime)):
            return value
        if isinstance(value, str):
            try:
                return tp.fromisoformat(value.strip())
            except ValueError:
                pass
        raise wrong(f"an ISO {tp.__name__} (2024-06-01{'T06:00' if tp is datetime else ''})")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if value == member.value or value == member.name or value is member:
                return member
            if is_text and str(member.value) == value:
                return member
        raise wrong("one of " + ", ".join(repr(m.value) for m in tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        value = _read_json_text(value) if is_text else value
        if not isinstance(value, dict):
            raise wrong(f"the fields of {tp.__name__}")
        return build(tp, value, where=where, origin=None)
    if origin in (list, tuple, set, frozenset):
        value = _read_json_text(value) if is_text else value
        if is_text and isinstance(value, str):  # a comma-separated list
            value = [Text(v.strip()) for v in value.split(",")] if value.strip() else []
        if not isinstance(value, list | tuple):
            raise wrong("a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise wrong(f"a list of {len(args)}")
            return tuple(
                _coerce(v, a, f"{where}[{i}]", source)
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item_type = args[0] if args else Any
        items = [
            _coerce(_texted(v, is_text), item_type, f"{where}[{i}]", source)
            for i, v in enumerate(value)
        ]
        return origin(items)
    if origin is dict:
        value = _read_json_text(value) if is_text else value
        if not isinstance(value, dict):
            raise wrong("a mapping")
        return {
            str(k): _coerce(_texted(v, is_text), args[1], f"{where}.{k}", source)
            for k, v in value.items()
        }
    raise wrong(_shown(tp))


_BOOLS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def _number(text: str, tp: type[int] | type[float]) -> int | float | None:
    try:
        return tp(text.strip())
    except ValueError:
        return None


def _read_json_text(value: str) -> Any:
    """Text that looks like JSON (`[1, 2]`, `{"a": 1}`) as its value; other text as is."""
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            pass
    return value


def _texted(value: Any, is_text: bool) -> Any:
    return Text(value) if is_text and isinstance(value, str) else value


def _shown(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def plain_values(value: Any) -> Any:
    """Configuration values (a dataclass instance, a dict of fields) as JSON-shaped
    data: what is recorded and compared."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_values(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return plain_values(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_values(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain_values(v) for v in value), key=repr)
    return value


def recorded(
    specs: Mapping[AssetKey, AssetSpec], configs: Mapping[str, str]
) -> dict[AssetKey, AssetConfig]:
    """Recorded configurations (asset key text -> JSON: a plan's, a backfill's) back
    as the assets' configuration; assets this project no longer has are left out.

    Raises:
        ConfigError: a recorded value no longer fits its asset's dataclass.
    """
    by_text = {str(key): key for key in specs}
    found = {}
    for name, text in configs.items():
        key = by_text.get(name)
        cls = None if key is None else specs[key].config_type
        if key is not None and cls is not None:
            found[key] = AssetConfig.of(from_json(cls, text))
    return found


def from_json(cls: type, text: str) -> Any:
    """An asset's configuration back from its recorded JSON (in a worker process)."""
    return build(cls, json.loads(text), where=f"recorded configuration of {cls.__name__}")


def canonical_json(values: Any) -> str:
    """JSON-shaped values as the canonical text that is recorded and compared."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def by_asset_json(configs: Mapping[str, str]) -> str | None:
    """Assets' recorded configurations (asset -> JSON) as one JSON object, as runs and
    backfills record them (None: none)."""
    if not configs:
        return None
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in sorted(configs.items())) + "}"


def values_text(values: Mapping[str, Any]) -> str:
    """One asset's values for people: `region='us', threshold=0.3`."""
    return ", ".join(f"{name}={value!r}" for name, value in values.items()) or "defaults"


def shown_by_asset(recorded: str | None) -> list[tuple[str, str]]:
    """A run's recorded configuration (asset -> values, JSON) for people: each asset
    with `region='us', threshold=0.3`."""
    if not recorded:
        return []
    return [(asset, values_text(values)) for asset, values in sorted(json.loads(recorded).items())]


def changes(old_json: str | None, new_json: str | None) -> str:
    """What changed between two recorded configurations, for people:
    `threshold 0.05 → 0.1, region 'eu' → 'us'`."""
    old = _flat(json.loads(old_json)) if old_json else {}
    new = _flat(json.loads(new_json)) if new_json else {}
    shown = []
    for name in sorted(set(old) | set(new)):
        if old.get(name, _NONE) != new.get(name, _NONE):
            before = "(none)" if name not in old else _value_text(old[name])
            after = "(none)" if name not in new else _value_text(new[name])
            shown.append(f"{name} {before} → {after}")
    return ", ".join(shown) if shown else "values changed"


_NONE = object()


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for name, item in value.items():
            out.update(_flat(item, f"{prefix}{name}."))
        return out
    return {prefix[:-1]: value} if prefix else {}


def _value_text(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "…"
