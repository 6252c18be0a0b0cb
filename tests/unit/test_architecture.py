"""The import rules of docs/architecture.md, enforced: no cycle and no upward import can return.

Each module of `portal` belongs to one layer; a module may import only from its own layer
or the layers below (never above), the two interfaces never import each other, crypto
imports nothing else of the portal, and no import hides inside a function.
Imports under `if TYPE_CHECKING:` are annotations only and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Lowest first. The first matching prefix decides (so list specific names before packages).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("crypto", ("portal.crypto",)),
    (
        "foundation",
        (
            "portal.clock",
            "portal.config",
            "portal.db",
            "portal.i18n",
            "portal.i18n_catalogs",
            "portal.instance",
            "portal.logs",
            "portal.state",
            "portal.triage.vocabulary",
        ),
    ),
    (
        "domain",
        (
            "portal.reports.models",
            "portal.triage.models",
            "portal.blobs.models",
            "portal.sessions",
            "portal.triage.context",
            "portal.referrals.models",
            "portal.triage.referral_records",
        ),
    ),
    (
        "services",
        (
            "portal.blobs",
            "portal.evidence",
            "portal.admission",
            "portal.limits",
            "portal.deadlines",
            "portal.backup",
            "portal.migrate",
            "portal.reports.answers",
            "portal.reports.recipients",
            "portal.reports.integrity",
            "portal.reports.service",
            "portal.reports.browser_intake",
            "portal.reports.replies",
            "portal.reports.upload",
            "portal.reports.recovery",
            "portal.reports.receipts",
            "portal.reports.sealed",
            "portal.reports.statuses",
            "portal.triage.audit",
            "portal.triage.checkpoints",
            "portal.triage.throttle",
            "portal.triage.subjects",
            "portal.triage.internal",
            "portal.triage.names",
            "portal.triage.links",
            "portal.triage.linking",
            "portal.triage.conflicts",
            "portal.triage.rules",
            "portal.triage.risk",
            "portal.triage.identities",
            "portal.triage.junk",
            "portal.triage.seniority",
            "portal.triage.routing",
            "portal.triage.screening",
            "portal.triage.screener",
            "portal.triage.integrity",
            "portal.triage.service",
            "portal.triage.closure",
            "portal.triage.listing",
            "portal.triage.safe_copies",
            "portal.triage.accounts",
            "portal.triage.oversight",
            "portal.models",
            "portal.storage",
            "portal.referrals",
            "portal.triage.mandatory",
            "portal.triage.referral_bundle",
            "portal.triage.referrals",
        ),
    ),
    ("web", ("portal.state", "portal.web", "portal.forms", "portal.slow_clients", "portal.reports", "portal.triage")),
    ("entry", ("portal.app", "portal.cli", "portal.cli_instance", "portal.cli_audit", "portal.cli_keys", "portal.cli_keyfiles", "portal.cli_bodies", "portal.cli_referral", "portal.migrations", "portal")),
]
RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}
INTERFACES = {"portal.reports": "reporter", "portal.triage": "triage"}


def layer_of(module: str) -> str:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/architecture.md")


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PORTAL.rglob("*.py")) if "migrations/versions" not in p.as_posix()}


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".")
    is_package = MODULES.get(module, Path()).name == "__init__.py"
    base = package if is_package else package[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, source: str | None = None) -> tuple[set[str], list[tuple[int, str]]]:
    """(portal modules imported at module level, [(line, name)] of imports inside functions)."""
    tree = ast.parse(MODULES[module].read_text("utf-8") if source is None else source)
    top: set[str] = set()
    hidden: list[tuple[int, str]] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        source = _resolve(module, node)
        found = []
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            found.append(candidate if candidate in MODULES else source)
        return found

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                names = [n for n in targets(child) if n == "portal" or n.startswith("portal.")]
                if in_function:
                    hidden.extend((child.lineno, n) for n in names)
                else:
                    top.update(names)
                continue
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return {m for m in top if m in MODULES and m != module}, hidden


GRAPH = {module: imports(module)[0] for module in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    mine = RANK[layer_of(module)]
    upward = sorted(m for m in GRAPH[module] if RANK[layer_of(m)] > mine)
    assert not upward, f"{module} ({layer_of(module)}) imports a higher layer: {upward}"


def test_crypto_imports_nothing_else_of_the_portal():
    for module, targets in GRAPH.items():
        if layer_of(module) == "crypto":
            assert all(t.startswith("portal.crypto") for t in targets), (module, targets)


def _interface(module: str) -> str | None:
    """Which interface's web layer `module` belongs to (the domains below are shared)."""
    if layer_of(module) != "web":
        return None
    return next((side for prefix, side in INTERFACES.items() if module.startswith(prefix + ".")), None)


def test_the_two_interfaces_do_not_import_each_other():
    for module, targets in GRAPH.items():
        side = _interface(module)
        if side is None:
            continue
        for target in targets:
            other = _interface(target)
            if other and other != side:
                raise AssertionError(f"{module} ({side}) imports {target} ({other})")


def test_no_import_cycle():
    """Depth-first search over module-level imports; any back edge is a cycle."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if target == "portal" or module == "portal":
                continue  # the package itself: `from portal import state` loads a submodule, not __init__'s names
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if state.get(target) is None:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if state.get(module) is None:
            visit(module)


def test_no_import_hides_in_a_function():
    hidden = {module: found for module in MODULES if (found := imports(module)[1])}
    assert not hidden, f"function-level portal imports (move them to the top; fix the cycle they hide): {hidden}"


def test_rules_catch_what_they_claim():
    """The checker itself sees an upward import, a hidden one, and ignores TYPE_CHECKING."""
    assert layer_of("portal.crypto.stream") == "crypto"
    assert layer_of("portal.triage.service") == "services"
    assert layer_of("portal.triage.reports") == "web"
    assert RANK["crypto"] < RANK["domain"] < RANK["services"] < RANK["web"] < RANK["entry"]
    source = (
        "from typing import TYPE_CHECKING\n"
        "from portal import state, web\n"
        "if TYPE_CHECKING:\n    from portal.triage import service\n"
        "def f():\n    from portal.db import Base\n"
    )
    top, hidden = imports("portal.crypto.stream", source)
    assert top == {"portal.state", "portal.web"}
    assert [name for _, name in hidden] == ["portal.db"]
    assert any(RANK[layer_of(m)] > RANK["crypto"] for m in top)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_a_god_module(module):
    lines = MODULES[module].read_text("utf-8").count("\n")
    assert lines <= 520, f"{module} has {lines} lines: split it by what its parts do"
