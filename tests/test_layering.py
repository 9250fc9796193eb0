"""Only the command line (andreev/cli, andreev/gui) talks to the terminal or ends the process.

Everything below raises an ``andreev.errors`` exception or returns values (logging via
``logging`` is fine). This walks every module of the package with ``ast`` and lists each
``print``, ``sys.exit``/``exit``/``quit``/``os._exit``, ``raise SystemExit`` and each use
of ``sys.stdout``/``sys.stderr`` as something to write to (reading ``isatty()``,
``encoding`` or ``fileno()`` is fine). The import contracts are ``lint-imports``'s job
(pyproject.toml, run by .ci/run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "andreev"
#: the packages allowed to print and exit, relative to the package
FRONT_ENDS = ("cli", "gui")
STREAMS = frozenset({"stdout", "stderr", "__stdout__", "__stderr__"})
#: attributes of a stream that only read its state
READ_ONLY = frozenset({"isatty", "encoding", "fileno", "closed"})
EXITS = frozenset({"exit", "quit"})


def _sys_aliases(tree: ast.AST) -> tuple[dict[str, str], dict[str, str]]:
    """Names bound to the ``sys``/``os`` modules (local name → module), and names imported
    from them (local name → ``sys.exit``, ``sys.stdout``, ``os._exit`` …)."""
    modules: dict[str, str] = {}
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in ("sys", "os"):
                    modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in ("sys", "os"):
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return modules, imported


def _qualified(node: ast.AST, modules: dict[str, str], imported: dict[str, str]) -> str | None:
    """``sys.stdout``, ``sys.exit``, ``os._exit`` … for a Name/Attribute node, else None."""
    if isinstance(node, ast.Name):
        return imported.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id in modules:
            return f"{modules[node.value.id]}.{node.attr}"
    return None


def _stream_offence(node: ast.AST, parent: ast.AST | None, name: str) -> str | None:
    stream = name.split(".", 1)[1] if name.startswith("sys.") else None
    if stream not in STREAMS:
        return None
    if isinstance(parent, ast.Attribute) and parent.attr in READ_ONLY:
        return None
    return f"uses {name}"


def offences(source: str) -> list[tuple[int, str]]:
    """(line, what) of every print, process exit and terminal write in ``source``."""
    tree = ast.parse(source)
    modules, imported = _sys_aliases(tree)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id == "print":
                what = "print"
            elif node.id in EXITS and node.id not in imported:
                what = f"{node.id}()"
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                what = "raise SystemExit"
        name = _qualified(node, modules, imported)
        if name in ("sys.exit", "os._exit"):
            what = name
        elif name is not None:
            what = _stream_offence(node, parents.get(node), name) or what
        if what is not None:
            found.append((getattr(node, "lineno", 0), what))
    return sorted(set(found))


def _modules_below_the_cli() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in FRONT_ENDS and path.name != "__main__.py"
    ]


def test_nothing_below_the_cli_prints_or_exits() -> None:
    offenders = [
        f"andreev/{path.relative_to(PACKAGE).as_posix()}:{line}: {what}"
        for path in _modules_below_the_cli()
        for line, what in offences(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "only andreev/cli (and andreev/gui) may print or exit:\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("print('x')\n", [(1, "print")]),
        ("def f(echo=print):\n    pass\n", [(1, "print")]),
        ("import sys\nsys.exit(2)\n", [(2, "sys.exit")]),
        ("import sys as s\ns.stderr.write('x')\n", [(2, "uses sys.stderr")]),
        ("from sys import stdout\nstdout.write('x')\n", [(2, "uses sys.stdout")]),
        ("from sys import exit\nexit(1)\n", [(2, "sys.exit")]),
        ("import os\nos._exit(1)\n", [(2, "os._exit")]),
        ("exit(0)\n", [(1, "exit()")]),
        ("raise SystemExit(1)\n", [(1, "raise SystemExit")]),
        ("import sys\nf(file=sys.stderr)\n", [(2, "uses sys.stderr")]),
        ("import sys\nok = sys.stdout.isatty()\n", []),
        ("import logging\nlogging.getLogger(__name__).info('x')\n", []),
        ("import sys\nsys.path.insert(0, '.')\n", []),
    ],
)
def test_the_scan_finds_what_it_should(source: str, expected: list[tuple[int, str]]) -> None:
    assert offences(source) == expected


def test_the_scan_reads_the_package() -> None:
    modules = _modules_below_the_cli()
    assert PACKAGE / "errors.py" in modules and PACKAGE / "storage" / "writer.py" in modules
    assert not any("cli" in p.relative_to(PACKAGE).parts[:1] for p in modules)


def test_no_import_circles() -> None:
    """No two modules import each other, directly or round a loop (imports made only for
    type checking do not count: they never run)."""
    import grimp

    graph = grimp.build_graph("andreev", exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert not circles, f"import circles: {circles}"
