"""Layer contracts of the package, read from the source (every import, also inside functions):

    _checks <- ops <- fode, nn <- models <- hub <- cli
    callbacks may use nn (to find fractional-order layers), datamodules may use fode (to simulate);
    neither imports models; models never import the front (hub) or the command line (cli);
    and no module imports itself back through a chain of imports (no cycles).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fraczoo"

# layer -> the layers (besides itself) it may import; a layer is the first name below ``fraczoo``
ALLOWED = {
    "_checks": set(),
    "ops": {"_checks"},
    "fode": {"_checks", "ops"},
    "nn": {"_checks", "ops"},
    "models": {"_checks", "ops", "fode", "nn"},
    "datamodules": {"_checks", "ops", "fode"},
    "callbacks": {"_checks", "ops", "nn"},
    "hub": {"models"},
    "cli": {"hub", "models", "callbacks", "datamodules"},
    "__init__": {"hub"},
    "__main__": {"cli"},
}


def _module_name(path: Path) -> str:
    parts = ["fraczoo", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(target: str) -> str:
    """The module an import statement loads: ``target`` itself, or its parent when it names an attribute."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {_resolve(name) for name in names if name.split(".")[0] == "fraczoo"}
    return found - {module}


GRAPH = {module: imports_of(module) for module in MODULES}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layer_contract(module):
    layer = _layer(module)
    assert layer in ALLOWED, f"{module}: new top-level module {layer!r}; give it a row in ALLOWED"
    bad = sorted(m for m in GRAPH[module] if _layer(m) != layer and _layer(m) not in ALLOWED[layer])
    assert not bad, f"{module} (layer {layer!r}) imports {bad}; allowed: {sorted(ALLOWED[layer])}"


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(GRAPH[module]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_graph_sees_imports():
    """Guards the test itself: known edges, including one made inside a function."""
    assert "fraczoo.models._registry" in GRAPH["fraczoo.models.spectral_fractional_cnn"]
    assert "fraczoo.hub" in GRAPH["fraczoo"]  # imported inside __getattr__
    assert "fraczoo._checks" in GRAPH["fraczoo.ops.history"]
