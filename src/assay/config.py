"""Where a project lives: its root, its state home, and the module that defines it.

Resolution order, first found wins:
    module: `-m/--module` or `-f/--file`, then `ASSAY_MODULE`, then
            `[tool.assay] module` in the nearest pyproject.toml
    home:   `ASSAY_HOME`, then `[tool.assay] home`, then `<root>/.assay`
    lineage: `ASSAY_LINEAGE` (0/false/off), then `[tool.assay] lineage`, then on
    storage: `ASSAY_STORAGE`, then `[tool.assay] storage` (a folder or an fsspec
            URL such as `s3://bucket/warehouse`), then `<home>/storage`; fsspec
            options from `[tool.assay.storage_options]`
    executor: the command's options, then `ASSAY_EXECUTOR`, `ASSAY_WORKERS` and
            `ASSAY_DASK_ADDRESS`, then `[tool.assay] executor`, `workers` and
            `dask_address`, then `in_process`
    alerts: how alerts are delivered, from `[tool.assay.alerts]` (`AlertSettings`)
    retention: `ASSAY_RETENTION`, then `[tool.assay] retention` (`30d`, `12w`): finished
            runs older than that are pruned as runs end (and by `assay state prune`);
            none by default
    config: run configuration of assets, from `[tool.assay.config]`, then the file (or
            inline JSON) named by `ASSAY_CONFIG` (see `assay.run_config`)
The root is the folder of the nearest pyproject.toml above the working
directory, or the working directory itself.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSettings:
    """How alerts are delivered (`[tool.assay.alerts]`): each target gets `attempts`
    tries of at most `timeout_s` each, waiting `backoff_s`, then twice as long, and
    so on, between them; all targets together hold a run up for at most `budget_s`
    at its end (what is not sent by then is recorded failed, for `assay alerts send`).
    """

    attempts: int = 3
    timeout_s: float = 3.0
    backoff_s: float = 0.5
    budget_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectConfig:
    root: Path
    home: Path
    module: str | None
    file: Path | None
    name: str
    lineage: bool = True  # record OpenLineage events (and send them where configured)
    storage: str | None = None  # where ParquetIO stores by default: a folder or a URL
    storage_options: dict[str, Any] = field(default_factory=dict, hash=False)
    executor: str | None = None  # in_process, multiprocess or dask
    workers: int | None = None
    dask_address: str | None = None  # a running Dask scheduler; None: a LocalCluster
    alerts: AlertSettings = field(default_factory=AlertSettings)
    retention_s: float | None = None  # runs older are pruned as runs end; None: keep all
    # run configuration of assets, `[tool.assay.config]` (see `assay.run_config`)
    config_table: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def state_path(self) -> Path:
        return self.home / "assay.duckdb"

    @property
    def journal_dir(self) -> Path:
        return self.home / "journal"

    @property
    def storage_dir(self) -> Path:
        return self.home / "storage"

    @property
    def storage_root(self) -> str | Path:
        """Where ParquetIO stores by default: a local folder, or an fsspec URL."""
        if self.storage is None:
            return self.storage_dir
        if is_url(self.storage):
            return self.storage
        path = Path(self.storage).expanduser()
        return path if path.is_absolute() else self.root / path


def cache_dir() -> Path:
    """Where assay keeps what it can always make again (`ASSAY_CACHE_DIR`, else
    `$XDG_CACHE_HOME/assay`, else `~/.cache/assay`)."""
    chosen = os.environ.get("ASSAY_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assay"


def is_url(text: str) -> bool:
    """`s3://bucket/x`, `file:///tmp/x`: a location fsspec resolves (a Windows drive is not)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").replace("-", "").isalnum()


def find_root(start: Path | None = None) -> Path:
    """The folder of the nearest pyproject.toml at or above `start`, else `start`."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return here


def resolve_config(
    *,
    module: str | None = None,
    file: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
) -> ProjectConfig:
    """Resolve the project configuration from arguments, environment and pyproject.toml."""
    if module and file:
        raise ConfigError("give either --module or --file, not both")
    root = find_root(cwd)
    table = _tool_table(root)
    if not module and not file:
        module = os.environ.get("ASSAY_MODULE") or None
    if not module and not file:
        module = _str_setting(table, "module", root)
        file = _str_setting(table, "file", root)
    home_text = home or os.environ.get("ASSAY_HOME") or _str_setting(table, "home", root)
    home_path = Path(home_text) if home_text else root / ".assay"
    if not home_path.is_absolute():
        home_path = root / home_path
    file_path: Path | None = None
    if file:
        file_path = Path(file)
        if not file_path.is_absolute():
            file_path = (cwd or Path.cwd()) / file_path
    name = _str_setting(table, "name", root) or table.get("__project_name") or root.name
    return ProjectConfig(
        root=root,
        home=home_path,
        module=module,
        file=file_path,
        name=name,
        lineage=_lineage_setting(table, root),
        storage=os.environ.get("ASSAY_STORAGE") or _str_setting(table, "storage", root),
        storage_options=_table_setting(table, "storage_options", root),
        executor=_executor_setting(table, root),
        workers=_workers_setting(table, root),
        dask_address=os.environ.get("ASSAY_DASK_ADDRESS")
        or _str_setting(table, "dask_address", root),
        alerts=_alert_settings(_table_setting(table, "alerts", root), root),
        retention_s=_retention_setting(table, root),
        config_table=_table_setting(table, "config", root),
    )


def _alert_settings(table: dict[str, Any], root: Path) -> AlertSettings:
    where = f"[tool.assay.alerts] in {root / 'pyproject.toml'}"
    names = AlertSettings.__dataclass_fields__
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ConfigError(f"{where} has no setting {unknown[0]!r}: use {', '.join(names)}")
    values: dict[str, Any] = {}
    for name, value in table.items():
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if name == "attempts":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 20:
                raise ConfigError(f"{where}: attempts = {value!r}; give a whole number, 1 to 20")
        elif not is_number or not 0 <= value <= 3600 or (name != "backoff_s" and value == 0):
            raise ConfigError(f"{where}: {name} = {value!r}; give seconds, more than 0")
        values[name] = value
    return AlertSettings(**values)


EXECUTORS = ("in_process", "multiprocess", "dask")
_DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> float | None:
    """`90s`, `30m`, `12h`, `30d`, `2w` in seconds; None when it is not one."""
    import re

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if found is None:
        return None
    return float(found.group(1)) * _DURATION_UNITS_S[found.group(2)]


def _retention_setting(table: dict[str, Any], root: Path) -> float | None:
    text = os.environ.get("ASSAY_RETENTION", "").strip()
    where = "ASSAY_RETENTION"
    if not text:
        value = table.get("retention")
        if value is None:
            return None
        where = f"[tool.assay] retention in {root / 'pyproject.toml'}"
        text = value if isinstance(value, str) else repr(value)
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise ConfigError(
            f"{where} = {text!r}: give a duration such as 30d, 12w or 48h "
            "(finished runs older than that are pruned by `assay state prune`)"
        )
    return seconds


def _executor_setting(table: dict[str, Any], root: Path) -> str | None:
    name = os.environ.get("ASSAY_EXECUTOR") or _str_setting(table, "executor", root)
    if name is not None and name not in EXECUTORS:
        where = "ASSAY_EXECUTOR" if os.environ.get("ASSAY_EXECUTOR") else "[tool.assay] executor"
        raise ConfigError(f"{where} = {name!r}: use one of {', '.join(EXECUTORS)}")
    return name


def _workers_setting(table: dict[str, Any], root: Path) -> int | None:
    text = os.environ.get("ASSAY_WORKERS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"ASSAY_WORKERS={text!r}: give a whole number, at least 1")
        return int(text)
    value = table.get("workers")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"[tool.assay] workers in {root / 'pyproject.toml'} must be a whole number, "
            f"at least 1; got {value!r}"
        )
    return value


def _table_setting(table: dict[str, Any], name: str, root: Path) -> dict[str, Any]:
    value = table.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(
            f"[tool.assay] {name} in {root / 'pyproject.toml'} must be a table, "
            f"as in [tool.assay.{name}]; got {value!r}"
        )
    return value


def _lineage_setting(table: dict[str, Any], root: Path) -> bool:
    text = os.environ.get("ASSAY_LINEAGE", "").strip().lower()
    if text:
        if text not in _BOOLEANS:
            raise ConfigError(f"ASSAY_LINEAGE={text!r}: use 1/true/on or 0/false/off")
        return _BOOLEANS[text]
    value = table.get("lineage", True)
    if not isinstance(value, bool):
        raise ConfigError(
            f"[tool.assay] lineage in {root / 'pyproject.toml'} must be true or false, "
            f"got {value!r}"
        )
    return value


_BOOLEANS = {"1": True, "true": True, "on": True, "yes": True} | {
    "0": False,
    "false": False,
    "off": False,
    "no": False,
}


def _tool_table(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}. Fix the TOML syntax.") from exc
    table = data.get("tool", {}).get("assay", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.assay] in {path} must be a table")
    table["__project_name"] = data.get("project", {}).get("name")
    return table


def _str_setting(table: dict[str, Any], name: str, root: Path) -> str | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"[tool.assay] {name} in {root / 'pyproject.toml'} must be a non-empty string, "
            f"got {value!r}"
        )
    return value
