"""What a code version is made of: the function's own code and, transitively, the
functions, classes and module-level values of the user's project that it uses.

Names are resolved as the running code resolves them: through the function's
globals (the names its compiled code loads globally, as written in its syntax
tree: `clean(x)`, `util.clean(x)`, `shop.util.clean(x)`), its closure, and the
same for every project function and class it reaches. Each part is a digest:

- `body`: the function itself, without its name, decorators and docstrings;
- `helper FILE:NAME`, `class FILE:NAME`: a function or class of the project
  (docstrings left out, decorators kept);
- `constant FILE:NAME`: a module-level value: plain data (numbers, strings,
  lists, dicts... of them) by its value; any other object by the statements
  that bind it (`DAYS = DailyPartitions(start=...)`: its code, not its state);
- `closure FILE:FUNCTION.NAME`: a variable the function closes over (by value,
  or by a stable `repr`).

Third-party packages, the standard library and assay itself are left out.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.versioning.facts import function_facts, loads
from assay.versioning.sources import (
    bindings,
    class_node,
    code_digest,
    digest,
    function_node,
    in_project,
    module_in_project,
    normalized_digest,
    project_root_of,
    relative_name,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BODY = "body"
_COMPILED = (
    types.BuiltinFunctionType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
)
_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_PLAIN_LIMIT = 200_000  # values past this many items count by their binding statements
_DEPTH = 8  # of `from x import y` chains followed to a binding


@dataclass(frozen=True, slots=True)
class _Ref:
    """A name some code uses, the object it resolves to, and the module it was found in."""

    name: str
    value: Any
    module: types.ModuleType | None  # None: a closure variable
    is_closure: bool = False


def body_digest(fn: Any) -> str:
    """The function's own code: stable under comments, formatting, docstrings, its name
    and its decorators."""
    facts = function_facts(fn)
    if facts is not None:
        return facts.anonymous
    node = function_node(fn)
    if node is not None:
        return normalized_digest(node, anonymous=True)
    code = getattr(fn, "__code__", None)
    return "unknown" if code is None else code_digest(code)


def collect_parts(fn: Any) -> dict[str, str]:
    """Part name -> digest for `fn` (see the module docstring). Terminates on cycles:
    each function, class and value is visited once."""
    target, arguments = _unwrap_root(fn)
    code = getattr(target, "__code__", None)
    parts = {BODY: body_digest(target)}
    if arguments is not None:
        parts["arguments"] = arguments
    if code is None:
        return parts
    root = project_root_of(code.co_filename)
    walker = _Walker(root, parts)
    walker.seen.add(id(target))
    walker.function(target, is_root=True)
    walker.drain()
    return parts


class _Walker:
    def __init__(self, root: Path, parts: dict[str, str]) -> None:
        self.root = root
        self.parts = parts
        self.seen: set[int] = set()
        self.queue: list[tuple[str, Any]] = []

    def drain(self) -> None:
        while self.queue:
            kind, item = self.queue.pop()
            if kind == "function":
                self.function(item)
            elif kind == "class":
                self.klass(item)

    def function(self, fn: Any, *, is_root: bool = False) -> None:
        for ref in _function_refs(fn, self.root, skip_decorators=is_root):
            self.visit(ref, owner=fn)

    def klass(self, cls: type) -> None:
        for value in vars(cls).values():
            for method in _methods(value):
                if id(method) not in self.seen:
                    self.seen.add(id(method))
                    self.function(method)
        node = class_node(cls)
        module = sys.modules.get(cls.__module__)
        if node is None or module is None:
            return
        statements = [s for s in node.body if not isinstance(s, ast.FunctionDef | ast.ClassDef)]
        for statement in statements:  # class attributes: `limit = LIMIT`
            for ref in _node_refs(statement, module, None, self.root):
                self.visit(ref, owner=None)

    def visit(self, ref: _Ref, owner: Any) -> None:
        if isinstance(ref.value, types.ModuleType):
            return  # (without asking it for `__wrapped__`: polars answers slowly)
        value = _unwrap(ref.value)
        if isinstance(value, types.ModuleType):
            return
        if isinstance(value, types.FunctionType):
            if id(value) in self.seen or not in_project(value.__code__.co_filename, self.root):
                return
            self.seen.add(id(value))
            where = relative_name(value.__code__.co_filename, self.root)
            self.parts[f"helper {where}:{value.__qualname__}"] = _helper_digest(value)
            self.queue.append(("function", value))
            return
        if isinstance(value, type):
            module = sys.modules.get(value.__module__)
            if id(value) in self.seen or module is None or not module_in_project(module, self.root):
                return
            self.seen.add(id(value))
            node = class_node(value)
            where = relative_name(module.__file__ or "", self.root)
            found = normalized_digest(node) if node else digest(repr(sorted(vars(value))))
            self.parts[f"class {where}:{value.__qualname__}"] = found
            self.queue.append(("class", value))
            for base in value.__bases__:
                self.visit(_Ref(base.__name__, base, module), owner=None)
            return
        if isinstance(value, _COMPILED):
            return  # builtins and other compiled callables
        if ref.is_closure:
            if owner is None:
                return
            code = owner.__code__
            where = relative_name(code.co_filename, self.root)
            key = f"closure {where}:{owner.__qualname__}.{ref.name}"
            shown = _plain(value) or _stable_repr(value)
            if shown is not None:
                self.parts[key] = digest(shown)
            return
        if ref.module is None or not module_in_project(ref.module, self.root):
            return
        statements, home, name = _binding(ref.module, ref.name, self.root)
        if statements and isinstance(statements[-1], ast.ImportFrom | ast.Import):
            return  # imported from a third-party package (or the standard library)
        key = f"constant {relative_name(home.__file__ or '', self.root)}:{name}"
        if key in self.parts:
            return
        plain = _plain(value)
        if plain is not None:
            self.parts[key] = digest(plain)
            return
        if not statements:
            return
        self.parts[key] = digest("\n".join(normalized_digest(s) for s in statements))
        for statement in statements:
            for inner in _node_refs(statement, home, None, self.root):
                self.visit(inner, owner=None)


def _unwrap_root(fn: Any) -> tuple[Any, str | None]:
    """The function to version, and a digest of the arguments a `partial` binds."""
    if isinstance(fn, functools.partial):
        arguments = _plain((list(fn.args), dict(fn.keywords))) or _stable_repr(
            (fn.args, fn.keywords)
        )
        return _unwrap(fn.func), digest(arguments or "")
    return _unwrap(fn), None


def _unwrap(value: Any) -> Any:
    from assay.checks import CheckSpec
    from assay.spec import AssetSpec

    if isinstance(value, AssetSpec | CheckSpec):
        value = value.fn
    if isinstance(value, types.MethodType):
        value = value.__func__
    if not isinstance(value, type) and hasattr(value, "__wrapped__"):
        with contextlib.suppress(ValueError):  # a cycle of __wrapped__
            value = inspect.unwrap(value)
    return value


def _methods(value: Any) -> Iterator[types.FunctionType]:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    is_property = isinstance(value, property)
    candidates = [value.fget, value.fset, value.fdel] if is_property else [value]
    for candidate in candidates:
        candidate = _unwrap(candidate) if candidate is not None else None
        if isinstance(candidate, types.FunctionType):
            yield candidate


def _helper_digest(fn: types.FunctionType) -> str:
    facts = function_facts(fn)
    if facts is not None:
        return facts.named
    node = function_node(fn)
    return normalized_digest(node) if node is not None else code_digest(fn.__code__)


def _function_refs(fn: types.FunctionType, root: Path, *, skip_decorators: bool) -> list[_Ref]:
    """The globals (and closure variables) a function's code uses."""
    code = fn.__code__
    loaded = _global_names(code)
    module = sys.modules.get(fn.__module__) if fn.__module__ else None
    facts = function_facts(fn)
    node = None if facts is not None else function_node(fn)
    refs: list[_Ref] = []
    if facts is not None:
        names, chains = facts.loads(skip_decorators=skip_decorators)
        refs += _resolved(names, chains, module, loaded, root, scope=fn.__globals__)
    elif node is None:
        scope = fn.__globals__
        refs += [_Ref(n, scope[n], module) for n in sorted(loaded) if n in scope]
    else:
        refs += _node_refs(node, module, loaded, root, scope=fn.__globals__, skip=skip_decorators)
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        try:
            refs.append(_Ref(name, cell.cell_contents, None, is_closure=True))
        except ValueError:  # not yet bound
            continue
    return refs


def _node_refs(
    node: ast.AST,
    module: types.ModuleType | None,
    loaded: frozenset[str] | None,
    root: Path,
    *,
    scope: dict[str, Any] | None = None,
    skip: bool = False,
) -> list[_Ref]:
    """The names a syntax tree loads that resolve in `scope` (default: the module's
    globals); with `loaded`, only those the compiled code loads globally."""
    if scope is None:
        if module is None:
            return []
        scope = vars(module)
    names, chains = loads(node, skip_decorators=skip)
    return _resolved(names, chains, module, loaded, root, scope=scope)


def _resolved(
    names: set[str],
    chains: set[tuple[str, ...]],
    module: types.ModuleType | None,
    loaded: frozenset[str] | None,
    root: Path,
    *,
    scope: dict[str, Any],
) -> list[_Ref]:
    """The names and chains some code loads, resolved in `scope` (see `_node_refs`)."""
    refs = []
    for name in sorted(names):
        if (loaded is None or name in loaded) and name in scope:
            refs.append(_Ref(name, scope[name], module))
    for chain in sorted(chains):
        if (loaded is not None and chain[0] not in loaded) or chain[0] not in scope:
            continue
        value: Any = scope[chain[0]]
        home = module
        for attr in chain[1:]:
            if not isinstance(value, types.ModuleType) or not module_in_project(value, root):
                break
            home = value
            try:
                value = getattr(value, attr)
            except AttributeError:
                break
            refs.append(_Ref(attr, value, home))
    return refs


@functools.lru_cache(maxsize=4096)
def _global_names(code: types.CodeType) -> frozenset[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return frozenset(names)


def _binding(
    module: types.ModuleType, name: str, root: Path
) -> tuple[list[ast.stmt], types.ModuleType, str]:
    """The statements that bind `name` at module level, and the module and name they
    are in, following `from x import name` into project modules."""
    for _ in range(_DEPTH):
        statements = bindings(module, name)
        if len(statements) != 1 or not isinstance(statements[0], ast.ImportFrom):
            return statements, module, name
        statement = statements[0]
        alias = next(a for a in statement.names if (a.asname or a.name) == name)
        source = _imported_module(module, statement)
        if source is None or not module_in_project(source, root):
            return statements, module, name
        module, name = source, alias.name
    return [], module, name


def _imported_module(module: types.ModuleType, statement: ast.ImportFrom) -> Any:
    package = module.__package__ or ""
    if statement.level:
        base = package.rsplit(".", statement.level - 1)[0] if statement.level > 1 else package
        target = f"{base}.{statement.module}" if statement.module else base
    else:
        target = statement.module or ""
    return sys.modules.get(target)


def _plain(value: Any) -> str | None:
    """A canonical text of plain data (None for anything else)."""
    budget = [_PLAIN_LIMIT]

    def text(item: Any) -> str | None:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        kind = type(item)
        if kind in _PLAIN:
            return repr(item)
        if kind in (list, tuple):
            inner = [text(v) for v in item]
            return None if None in inner else f"{kind.__name__}({', '.join(inner)})"  # type: ignore[arg-type]
        if kind in (set, frozenset):
            inner = [text(v) for v in item]
            return None if None in inner else f"set({', '.join(sorted(inner))})"  # type: ignore[arg-type]
        if kind is dict:
            pairs = [(text(k), text(v)) for k, v in item.items()]
            if any(k is None or v is None for k, v in pairs):
                return None
            return "dict(" + ", ".join(sorted(f"{k}: {v}" for k, v in pairs)) + ")"
        return None

    return text(value)


def _stable_repr(value: Any) -> str | None:
    """`repr(value)` unless it shows a memory address (it would change every run)."""
    try:
        shown = repr(value)
    except Exception:
        return None
    return None if " at 0x" in shown else shown
