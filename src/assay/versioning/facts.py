"""What a function's source says, kept between processes: its digests and the names
it loads.

A code version is made of two kinds of facts. Some follow from the text of the
function alone: the digest of its normalized syntax tree (with and without its
name and decorators) and the names and attribute chains it loads. The others
depend on the running program: what each of those names resolves to, the values
of constants and closures. The first kind costs most (parsing the module,
normalizing and dumping each tree: seconds for a module of 10,000 functions), so
it is kept in the user's cache folder (`assay.config.cache_dir()`, `code/`), one
file per module text: the file's name is a digest of the text, the Python version
(its syntax trees) and this format, so an edited module, another Python or another
assay never reads facts that are not its own. The second kind is resolved anew in
every process, as before: a helper, a constant or a closure that changed still
changes the version.

Deleting the folder is always safe; where it cannot be written, facts are made
from the source each time.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.versioning.sources import captured_text, function_node, normalized_digest

if TYPE_CHECKING:
    from pathlib import Path

FORMAT = 1
_ANNOTATIONS = {ast.arg: "annotation", ast.AnnAssign: "annotation"}


@dataclass(frozen=True, slots=True)
class FunctionFacts:
    """What a function's own text says (see the module docstring)."""

    anonymous: str  # digest without its name, decorators and docstrings
    named: str  # digest without docstrings
    names: frozenset[str]  # names it loads, its decorators left out
    chains: frozenset[tuple[str, ...]]  # attribute chains rooted at a name: `util.clean`
    decorator_names: frozenset[str]
    decorator_chains: frozenset[tuple[str, ...]]

    def loads(self, *, skip_decorators: bool) -> tuple[set[str], set[tuple[str, ...]]]:
        if skip_decorators:
            return set(self.names), set(self.chains)
        return set(self.names | self.decorator_names), set(self.chains | self.decorator_chains)


def facts_of(node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionFacts:
    names, chains = loads(node, skip_decorators=True)
    decorator_names: set[str] = set()
    decorator_chains: set[tuple[str, ...]] = set()
    for decorator in node.decorator_list:
        more, more_chains = loads(decorator, skip_decorators=False)
        decorator_names |= more
        decorator_chains |= more_chains
    return FunctionFacts(
        anonymous=normalized_digest(node, anonymous=True),
        named=normalized_digest(node),
        names=frozenset(names),
        chains=frozenset(chains),
        decorator_names=frozenset(decorator_names),
        decorator_chains=frozenset(decorator_chains),
    )


def function_facts(fn: Any) -> FunctionFacts | None:
    """The facts of a function (not a lambda) whose source is known; None otherwise."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_name == "<lambda>":
        return None
    table = _table(code.co_filename)
    if table is None:
        return None
    key = f"{code.co_firstlineno}:{code.co_name}"
    found = table.facts.get(key)
    if found is None:
        node = function_node(fn)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return None
        found = table.facts[key] = facts_of(node)
        table.is_dirty = True
        _pending.add(table)
    return found


@dataclass(slots=True, eq=False)
class _Table:
    text: str  # the module's text these are facts of
    path: Path | None  # where it is kept (None: nowhere to keep it)
    facts: dict[str, FunctionFacts]
    is_dirty: bool = False


_TABLES: dict[tuple[str, int], _Table] = {}  # (file name, id of its text)
_pending: set[_Table] = set()


def _table(filename: str) -> _Table | None:
    text = captured_text(filename)
    if text is None:
        return None
    held = _TABLES.get((filename, id(text)))
    if held is not None and held.text is text:
        return held
    from assay.config import cache_dir

    salt = f"{FORMAT}\0{sys.version_info[0]}.{sys.version_info[1]}\0"
    digest = hashlib.sha256((salt + text).encode()).hexdigest()[:32]
    path: Path | None = None
    with contextlib.suppress(OSError, RuntimeError):  # no home folder at all
        path = cache_dir() / "code" / f"{digest}.json"
    table = _Table(text=text, path=path, facts=_read(path) if path is not None else {})
    _TABLES[(filename, id(text))] = table
    return table


def _read(path: Path) -> dict[str, FunctionFacts]:
    try:
        kept = json.loads(path.read_bytes())
        return {
            key: FunctionFacts(
                anonymous=str(a),
                named=str(n),
                names=frozenset(names),
                chains=frozenset(tuple(c) for c in chains),
                decorator_names=frozenset(dnames),
                decorator_chains=frozenset(tuple(c) for c in dchains),
            )
            for key, (a, n, names, chains, dnames, dchains) in kept.items()
        }
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # none yet, or not what this writes: made again


def save() -> None:
    """Keep the facts made in this process (at exit; a failure changes nothing)."""
    for table in list(_pending):
        _pending.discard(table)
        if table.path is None or not table.is_dirty:
            continue
        rows = {
            key: [
                f.anonymous,
                f.named,
                sorted(f.names),
                sorted(f.chains),
                sorted(f.decorator_names),
                sorted(f.decorator_chains),
            ]
            for key, f in table.facts.items()
        }
        tmp = table.path.with_name(f".{table.path.name}.{os.getpid()}.tmp")
        try:
            table.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(rows, separators=(",", ":")))
            tmp.replace(table.path)
            table.is_dirty = False
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


atexit.register(save)


def loads(node: ast.AST, *, skip_decorators: bool) -> tuple[set[str], set[tuple[str, ...]]]:
    """Names loaded in `node`, and attribute chains rooted at a name (`util.clean`),
    leaving out annotations (they do not run) and, for an asset, its decorators."""
    names: set[str] = set()
    chains: set[tuple[str, ...]] = set()
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Load):
            names.add(current.id)
        elif isinstance(current, ast.Attribute):
            chain = _chain(current)
            if chain is not None:
                chains.add(chain)
        for name, value in ast.iter_fields(current):
            if _ANNOTATIONS.get(type(current)) == name:
                continue
            if name == "returns" and isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if name == "decorator_list" and skip_decorators and current is node:
                continue
            if isinstance(value, ast.AST):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(item for item in value if isinstance(item, ast.AST))
    return names, chains


def _chain(node: ast.Attribute) -> tuple[str, ...] | None:
    attrs: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attrs.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    return (current.id, *reversed(attrs))
