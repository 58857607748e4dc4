"""The shape newcomers rely on: no import cycles among our modules, and modules small enough to read whole.

The layer rules themselves (foundation imports no feature app; views > services > selectors > models inside each
app) are import-linter contracts in pyproject.toml, checked by `make lint`.
"""

from __future__ import annotations

from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PACKAGES = (
    "foundation", "portal", "keys", "analytics", "gateway_sync", "webhooks", "notifications", "anomalies", "sso",
    "config", "gateway", "bench",
    "protection",
    "redaction",
    "certificates",
)  # fmt: skip
MAX_MODULE_LINES = 500


def _import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1:
                        cycles.append(sorted(group))
    return cycles


def test_no_module_imports_itself_back_even_through_a_deferred_import() -> None:
    # grimp reads every import statement, including those inside functions: a deferred import hides no cycle.
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=True)
    assert _import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "a.one", "a.two", "a.three"):
        graph.add_module(module)
    graph.add_import(importer="a.one", imported="a.two")
    graph.add_import(importer="a.two", imported="a.one")
    graph.add_import(importer="a.three", imported="a.one")
    assert _import_cycles(graph) == [["a.one", "a.two"]]


def test_no_module_outside_migrations_and_tests_is_over_500_lines() -> None:
    sources = [*REPO.glob("*/**/*.py"), *REPO.glob("gateway/lua/**/*.lua")]
    too_long = {
        str(path.relative_to(REPO)): lines
        for path in sources
        if not {"migrations", "tests", ".venv", "var"} & set(path.relative_to(REPO).parts)
        and (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}
