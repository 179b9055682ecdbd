"""The package's shape: the import graph and the sizes of modules and functions.

Standard library `ast` only; nothing is imported or run. The layering
(bottom to top) is errors -> config -> core -> kernel -> wings ->
config.registry -> cli; see README.md "Where things are".
"""

from __future__ import annotations

import ast
import os
from typing import Dict, Iterator, List, Set, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = "ifupdown_agg"

# Violations other branches are fixing in parallel, as (importer, imported).
# fixed by the core/doctor branches; the integrator empties this list
KNOWN_IMPORTS: Set[Tuple[str, str]] = {
}
# Modules ("path") and functions ("path:name") over the limits, in files other branches own.
# fixed by the core/doctor branches; the integrator empties this list
KNOWN_SIZES: Set[str] = set()

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SIZE_DIRS = ("ifupdown_agg", "lab", "bench", "vm", "tools")

PURE = ("ifupdown_agg.config", "ifupdown_agg.core", "ifupdown_agg.errors",
        "ifupdown_agg.overlay.model", "ifupdown_agg.overlay.plan", "ifupdown_agg.overlay.hops",
        "ifupdown_agg.overlay.options",
        "ifupdown_agg.overlay.nft_ruleset", "ifupdown_agg.bond.options", "ifupdown_agg.bond.plan",
        "ifupdown_agg.bond.preflight", "ifupdown_agg.bond.procfs", "ifupdown_agg.usb.options",
        "ifupdown_agg.monitor.health", "ifupdown_agg.monitor.shares", "ifupdown_agg.doctor.findings",
        "ifupdown_agg.doctor.texts")
# networkd is a second front end beside cli (it writes every wing's stanzas as networkd
# files), so it sits above the registry with cli and may read it.
WINGS = ("ifupdown_agg.overlay", "ifupdown_agg.bond", "ifupdown_agg.usb", "ifupdown_agg.monitor",
         "ifupdown_agg.doctor")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules() -> Dict[str, str]:
    """Every module of the package: dotted name -> path."""
    out = {}
    for dirpath, dirs, files in os.walk(os.path.join(ROOT, PKG)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, f), ROOT)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = os.path.join(dirpath, f)
    return out


def _imported(mod: str, path: str, known: Set[str]) -> Iterator[str]:
    """Every name `mod` imports (at top level or inside functions), resolved."""
    is_pkg = path.endswith("__init__.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                yield sub if sub in known else base


def _graph() -> Dict[str, Set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: set(_imported(m, p, known)) for m, p in mods.items()}


def _internal(graph: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    """Edges between the package's modules; a package's __init__ is not a
    dependency of its children (Python imports it, but ours are empty)."""
    return {m: {d for d in deps if d in graph and d != m and (m, d) not in KNOWN_IMPORTS}
            for m, deps in graph.items()}


def _cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle per strongly connected component (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    comps: List[List[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    cycle = _one_cycle(sorted(comp), edges)
                    rest = sorted(set(comp) - set(cycle))
                    comps.append(cycle + ([f"(and through {', '.join(rest)})"] if rest else []))
    return comps


def _one_cycle(comp: List[str], edges: Dict[str, Set[str]]) -> List[str]:
    """A concrete path start -> ... -> start inside one component (BFS)."""
    inside = set(comp)
    start = comp[0]
    prev = {start: None}
    queue = [start]
    for node in queue:          # bounded: each node enters once
        for d in sorted(edges[node] & inside):
            if d == start:
                path = [node]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if d not in prev:
                prev[d] = node
                queue.append(d)
    return comp


def test_no_import_cycles():
    cycles = _cycles(_internal(_graph()))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _violations(rule) -> List[str]:
    return sorted(f"{m} imports {d}" for m, deps in _graph().items() for d in deps
                  if (m, d) not in KNOWN_IMPORTS and rule(m, d))


def test_pure_layers_do_not_import_the_kernel():
    bad = _violations(lambda m, d: any(_under(m, p) for p in PURE)
                      and _under(d, "ifupdown_agg.kernel"))
    assert not bad, "\n".join(bad)


def test_package_does_not_import_lab_or_tests():
    bad = _violations(lambda m, d: d.split(".")[0] in ("lab", "tests"))
    assert not bad, "\n".join(bad)


def test_pyroute2_only_in_kernel_netlink():
    bad = _violations(lambda m, d: d.split(".")[0] == "pyroute2"
                      and m != "ifupdown_agg.kernel.netlink")
    assert not bad, "\n".join(bad)


# kernel/ is the only package that touches the running system (issue #12); ioctls
# go through fcntl, so only kernel/ (and the monitor's raw-socket probe) may import it.
FCNTL_ALLOWED = ("ifupdown_agg.kernel", "ifupdown_agg.monitor.probe")


def test_fcntl_only_in_kernel():
    bad = _violations(lambda m, d: d == "fcntl"
                      and not any(_under(m, p) for p in FCNTL_ALLOWED))
    assert not bad, "\n".join(bad)


def test_wings_do_not_import_registry_or_cli():
    bad = _violations(lambda m, d: any(_under(m, w) for w in WINGS)
                      and (_under(d, "ifupdown_agg.config.registry") or _under(d, "ifupdown_agg.cli")))
    assert not bad, "\n".join(bad)


def _size_files() -> Iterator[str]:
    for top in SIZE_DIRS:
        for dirpath, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "results"))
            for f in sorted(files):
                if f.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, f), ROOT)


def test_module_and_function_sizes():
    bad = []
    for rel in _size_files():
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            text = f.read()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES and rel not in KNOWN_SIZES:
            bad.append(f"{rel}: {lines} lines (max {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text, rel)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in KNOWN_SIZES \
                        and rel not in KNOWN_SIZES:
                    bad.append(f"{rel}:{node.lineno} {node.name}: {n} lines (max {MAX_FUNCTION_LINES})")
    assert not bad, "\n".join(bad)


def test_the_graph_sees_function_level_and_relative_imports():
    # The checks above are only as good as the graph: cli.main imports wings inside functions.
    graph = _graph()
    assert "ifupdown_agg.errors" in graph["ifupdown_agg.cli.main"]
    assert any(_under(d, "ifupdown_agg.overlay") or _under(d, "ifupdown_agg.cli")
               for d in graph["ifupdown_agg.cli.main"])


def test_known_lists_name_only_what_is_still_there():
    # So a fixed violation leaves the KNOWN lists (and cannot come back unnoticed).
    graph = _graph()
    stale = [f"{m} -> {d}" for m, d in sorted(KNOWN_IMPORTS) if d not in graph.get(m, ())]
    for entry in sorted(KNOWN_SIZES):
        rel, _, name = entry.partition(":")
        path = os.path.join(ROOT, rel)
        if not os.path.exists(path):
            stale.append(entry)
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if not name:
            big = len(text.splitlines()) > MAX_MODULE_LINES or any(
                isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES for n in ast.walk(ast.parse(text)))
        else:
            big = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
                      and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES
                      for n in ast.walk(ast.parse(text)))
        if not big:
            stale.append(entry)
    assert not stale, "fixed; remove from the KNOWN lists:\n" + "\n".join(stale)
