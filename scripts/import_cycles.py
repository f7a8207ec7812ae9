"""The import cycles between our modules, found from their source with `ast`.

Every `import` counts, at module level or inside a function (a function's import runs when it is called, and a
cycle there is still two modules that need each other); imports under `if TYPE_CHECKING:` do not, since they are
annotations only. `from package import name` is an edge to `package.name` when that is a module, else to the
package. Prints each cycle (a strongly connected component of the graph) and exits 1 if there is any.

    python scripts/import_cycles.py [src/agentrecord src/tradedesk]
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOTS = ("src/agentrecord", "src/tradedesk")


def modules(roots: Iterable[Path]) -> dict[str, Path]:
    """Dotted name → file, for every module under the given package directories."""
    found: dict[str, Path] = {}
    for root in roots:
        base = root.parent
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, skipping the bodies of `if TYPE_CHECKING:` (but not their `else:`)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def edges(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that module `name` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.add(_deepest(alias.name, known))
            continue
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, node.module] if node.module else anchor)
        else:
            base = node.module or ""
        for alias in node.names:
            full = f"{base}.{alias.name}"
            targets.add(full if full in known else _deepest(base, known))
    targets.discard("")
    targets.discard(name)
    return {t for t in targets if t in known}


def _deepest(dotted: str, known: dict[str, Path]) -> str:
    parts = dotted.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def graph_of(roots: Iterable[Path]) -> dict[str, set[str]]:
    known = modules(roots)
    return {name: edges(name, path, known) for name, path in known.items()}


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in (argv or ROOTS)]
    found = cycles(graph_of(roots))
    for component in found:
        print(f"cycle of {len(component)}: {', '.join(component)}")
    print(f"{len(found)} import cycle(s) in {', '.join(map(str, roots))}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
