"""The source code that code versions are made of: as imported, parsed once.

`definitions` captures the text of every module of the project as it is
imported (`capture_source`), so that a file edited after `assay.load()` is
versioned as the code that runs, not as what the file says now. A module
imported some other way (before the project was loaded, or lazily from inside
an asset) is read from its file when first versioned.

"The project" is the files under a project root (`add_project_root`, from the
configuration; without one, the nearest folder above the asset's file with a
`pyproject.toml`), outside site-packages, the standard library and assay itself.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import linecache
import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

Function = ast.FunctionDef | ast.AsyncFunctionDef

_CAPTURED: dict[str, str] = {}  # file name (as compiled, and absolute) -> text as imported
_ROOTS: list[Path] = []
_state = {"generation": 0}  # bumped by every capture: cached versions are made anew


def generation() -> int:
    """Changes whenever captured sources or project roots change."""
    return _state["generation"]


def capture_source(filename: str, text: str) -> None:
    """Keep `text` as what the module at `filename` was imported from."""
    _CAPTURED[filename] = text
    _CAPTURED[os.path.abspath(filename)] = text
    _state["generation"] += 1


def captured_text(filename: str) -> str | None:
    """The text the module at `filename` was imported from, if captured."""
    return _CAPTURED.get(filename) or _CAPTURED.get(os.path.abspath(filename))


def is_captured(filename: str) -> bool:
    return filename in _CAPTURED or os.path.abspath(filename) in _CAPTURED


def add_project_root(root: Path) -> None:
    """Count the files under `root` as the user's own project."""
    resolved = root.resolve()
    if resolved not in _ROOTS:
        _ROOTS.append(resolved)
        _ROOT_OF.clear()
        _state["generation"] += 1


def project_roots() -> tuple[Path, ...]:
    return tuple(_ROOTS)


_ROOT_OF: dict[str, Path] = {}


def project_root_of(filename: str) -> Path:
    """The project an asset's file belongs to: the deepest registered root holding it,
    else the nearest folder above it with a `pyproject.toml`, else its folder."""
    found = _ROOT_OF.get(filename)
    if found is not None:
        return found
    path = Path(filename).resolve()
    holding = [root for root in _ROOTS if path.is_relative_to(root)]
    if holding:
        found = max(holding, key=lambda root: len(root.parts))
    else:
        found = next((p for p in path.parents if (p / "pyproject.toml").is_file()), path.parent)
    _ROOT_OF[filename] = found
    return found


def _excluded_folders() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    folders = {Path(paths[name]).resolve() for name in ("stdlib", "platstdlib") if name in paths}
    folders.add(Path(__file__).resolve().parents[1])  # assay itself
    return tuple(folders)


_EXCLUDED = _excluded_folders()


def in_project(filename: str | None, root: Path) -> bool:
    """Whether the file is the user's own code under `root` (see the module docstring)."""
    if not filename or not filename.endswith(".py"):
        return False
    return _file_in_project(filename, root)


@functools.lru_cache(maxsize=16384)
def _file_in_project(filename: str, root: Path) -> bool:
    if not os.path.isabs(filename) or os.path.islink(filename):
        return _path_in_project(Path(filename).resolve(), root)
    # decided once per folder: loading a project asks this of every module imported
    # meanwhile (polars alone imports ~250)
    return _folder_in_project(os.path.dirname(filename), root)


@functools.lru_cache(maxsize=4096)
def _folder_in_project(folder: str, root: Path) -> bool:
    return _path_in_project(Path(folder).resolve() / "module.py", root)


def _path_in_project(path: Path, root: Path) -> bool:
    if not path.is_relative_to(root):
        return False
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return False
    return not any(path.is_relative_to(folder) for folder in _EXCLUDED)


def module_in_project(module: ModuleType, root: Path) -> bool:
    return in_project(getattr(module, "__file__", None), root)


def relative_name(filename: str, root: Path) -> str:
    """`shop/util.py`: the file as it is named in code parts (never an absolute path,
    so that a moved checkout keeps its versions)."""
    path = Path(filename).resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name


# --- modules, parsed once per text --------------------------------------------------------


@dataclass(slots=True)
class ModuleSource:
    """One module's syntax tree and what is looked up in it."""

    tree: ast.Module
    functions: dict[int, list[Function]] = field(default_factory=dict)  # by first line
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)  # by qualified name
    bindings: dict[str, list[ast.stmt]] = field(default_factory=dict)  # module-level names
    found_lambdas: dict[int, list[ast.Lambda]] | None = None

    @property
    def lambdas(self) -> dict[int, list[ast.Lambda]]:
        """Lambdas by first line, found when first asked for (a walk of the whole
        tree: most modules are asked for none)."""
        if self.found_lambdas is None:
            self.found_lambdas = {}
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Lambda):
                    self.found_lambdas.setdefault(node.lineno, []).append(node)
        return self.found_lambdas


_MODULES: dict[str, tuple[object, ModuleSource | None]] = {}


def module_source(filename: str) -> ModuleSource | None:
    """The module at `filename` as it was imported (else as its file is now), parsed."""
    text = _CAPTURED.get(filename) or _CAPTURED.get(os.path.abspath(filename))
    token: object = text  # captured: the very text (compared by identity)
    if text is None:
        try:
            stat = os.stat(filename)
        except OSError:  # no file: code a notebook cell or exec() put in linecache
            text = "".join(linecache.getlines(filename))
            token = ("lines", len(text), hash(text))
        else:
            token = (stat.st_mtime_ns, stat.st_size)
    elif _MODULES.get(filename, (None,))[0] is token:
        return _MODULES[filename][1]
    cached = _MODULES.get(filename)
    if cached is not None and cached[0] == token:
        return cached[1]
    if text is None:
        linecache.checkcache(filename)
        text = "".join(linecache.getlines(filename))
    parsed = _parse(text) if text else None
    _MODULES[filename] = (token, parsed)
    return parsed


def _parse(text: str) -> ModuleSource | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    found = ModuleSource(tree=tree)
    _index(tree.body, found, prefix="", module_level=True)
    return found


def _index(body: list[ast.stmt], found: ModuleSource, *, prefix: str, module_level: bool) -> None:
    """Functions by first line, classes by qualified name, module-level bindings."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if module_level:
                found.bindings.setdefault(node.name, []).append(node)
            qualname = prefix + node.name
            if isinstance(node, ast.ClassDef):
                found.classes[qualname] = node
                _index(node.body, found, prefix=qualname + ".", module_level=False)
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.functions.setdefault(first, []).append(node)
            _index(node.body, found, prefix=qualname + ".<locals>.", module_level=False)
            continue
        if module_level:
            for name in _bound_names(node):
                found.bindings.setdefault(name, []).append(node)
        for child in ast.iter_child_nodes(node):  # defs inside if/try/with/for blocks
            if isinstance(child, ast.stmt):
                _index([child], found, prefix=prefix, module_level=module_level)


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        targets: list[ast.expr] = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    elif isinstance(node, ast.Import | ast.ImportFrom):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    else:
        return []
    names = []
    for target in targets:
        names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


def function_node(fn: Any) -> Function | ast.Lambda | None:
    """The syntax tree of a function (or lambda), found by line in its module's source."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    source = module_source(code.co_filename)
    if source is None:
        return None
    if code.co_name == "<lambda>":
        candidates = source.lambdas.get(code.co_firstlineno, [])
        if len(candidates) > 1:  # several on one line: the one that holds its first position
            column = next((p[2] for p in code.co_positions() if p[2] is not None), None)
            candidates = [
                c for c in candidates if column is not None and c.body.col_offset == column
            ] or candidates[:1]
        return candidates[0] if len(candidates) == 1 else None
    for node in source.functions.get(code.co_firstlineno, []):
        if node.name == code.co_name:
            return node
    return None


def class_node(cls: type) -> ast.ClassDef | None:
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    source = module_source(filename) if filename else None
    return None if source is None else source.classes.get(cls.__qualname__)


def bindings(module: ModuleType, name: str) -> list[ast.stmt]:
    """The module-level statements that bind `name` in `module`."""
    filename = getattr(module, "__file__", None)
    source = module_source(filename) if filename else None
    return [] if source is None else source.bindings.get(name, [])


# --- normalized syntax ----------------------------------------------------------------------


def normalized_digest(node: ast.AST, *, anonymous: bool = False) -> str:
    """A digest of a syntax tree without positions and docstrings (comments and
    formatting are not in it); `anonymous` also drops a function's name and decorators."""
    node = _without_docstrings(node)
    if anonymous and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        node = copy.copy(node)
        node.decorator_list = []
        node.name = ""
    return digest(ast.dump(node, annotate_fields=False, include_attributes=False))


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)


def _without_docstrings(node: ast.AST) -> ast.AST:
    """`node` without the docstring of any function, class or module in it: the tree
    itself when it has none, else new nodes along the paths to them only (the
    module's tree, shared by every version made of it, is never changed; copying all
    of it took most of a code version's time)."""
    if isinstance(node, ast.expr):  # no docstring below an expression (lambdas have none)
        return node
    changed: dict[str, Any] = {}
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            items = [_without_docstrings(v) if isinstance(v, ast.AST) else v for v in value]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                changed[name] = items
        elif isinstance(value, ast.AST):
            item = _without_docstrings(value)
            if item is not value:
                changed[name] = item
    if isinstance(node, _DEFINITIONS):
        body = changed.get("body", node.body)
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            changed["body"] = body[1:] or [ast.Pass()]
    if not changed:
        return node
    found = copy.copy(node)
    for name, value in changed.items():
        setattr(found, name, value)
    return found


def digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def code_digest(code: Any) -> str:
    """A digest of compiled code, for functions whose source cannot be found (stable
    within one Python version)."""
    consts = [code_digest(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts]
    text = repr((code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars))
    return digest(text)
