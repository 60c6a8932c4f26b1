"""The import graph of a keyops package as its source states it, and the cycles in it.

Every import statement counts, wherever it stands: at the top, inside a function (a "lazy"
import only hides a cycle until the function runs) or under `if TYPE_CHECKING:` (a type-only
import still couples the two modules). Read from the source with `ast`; nothing is imported
beyond the packages themselves, so a cycle is found even where running the code would not
trip over it.

    python -m tests.support.import_graph keyops.tui keyops.core    # prints each cycle, exit 1 if any
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from collections.abc import Iterable
from pathlib import Path

Graph = dict[str, set[str]]


def package_modules(package: str) -> dict[str, Path]:
    """Every module of a package (the package's own __init__ included) and its source file."""
    root = importlib.import_module(package)
    assert root.__file__ is not None
    modules = {package: Path(root.__file__)}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        spec = importlib.util.find_spec(info.name)
        if spec is not None and spec.origin is not None:
            modules[info.name] = Path(spec.origin)
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names (relative ones counted from `module`)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The modules among `known` that `module` imports anywhere in its source."""
    known = set(known)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            for alias in node.names:
                # `from package import submodule` imports the submodule.
                submodule = f"{target}.{alias.name}"
                if submodule in known:
                    found.add(submodule)
                elif target in known:
                    found.add(target)
    found.discard(module)
    return found


def import_graph(*packages: str) -> Graph:
    modules: dict[str, Path] = {}
    for package in packages:
        modules.update(package_modules(package))
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted; a module in
    such a group can reach every other one of it through imports and be reached back."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep graph cannot hit the recursion limit.
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(groups)


def one_loop(graph: Graph, group: list[str]) -> list[str]:
    """A shortest import loop through the group's first module, to show what closes it."""
    start = group[0]
    members = set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return group


def main(argv: list[str]) -> int:
    graph = import_graph(*(argv or ["keyops.tui"]))
    found = cycles(graph)
    for group in found:
        print(f"{len(group)} modules in a cycle: {', '.join(group)}")
        print("  e.g. " + " -> ".join(one_loop(graph, group)))
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(found)} cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
