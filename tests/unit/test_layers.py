"""The package reads one way: no import cycles, the core never imports the app, and everything the
app needs (config, registries, plans, every built-in and shipped plug-in) imports without torch."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORE = ROOT / "pruning_core"


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: pathlib.Path, top_level_only: bool) -> set[str]:
    """The pruning_core modules a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                base = ".".join(parent[:len(parent) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def graph(top_level_only: bool = True) -> dict[str, set[str]]:
    """{module: the pruning_core modules it imports}, without edges to its own ancestor packages
    (importing a submodule always runs them first: that is how Python packages work)."""
    modules = {module_name(p): p for p in CORE.rglob("*.py")}
    return {name: {m for m in imports(path, top_level_only)
                   if m in modules and m != name and not name.startswith(m + ".")}
            for name, path in modules.items()}


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    return cycles


def test_the_cycle_finder_finds_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"b"}}) == []


def test_no_import_cycles():
    """Neither at import time nor through the imports inside functions (the registry finds the
    built-in methods by module name, which is discovery, not an import edge)."""
    assert not find_cycles(graph(top_level_only=True))
    assert not find_cycles(graph(top_level_only=False))


def test_the_core_never_imports_the_app():
    for path in CORE.rglob("*.py"):
        names = imports(path, top_level_only=False)
        assert not {n for n in names if n.split(".")[0] in ("streamlit", "ui")}, path


def test_no_upward_imports():
    """Analyses and pruners sit below the runner and the model registry's implementations."""
    g = graph(top_level_only=False)
    for name, targets in g.items():
        if name.startswith(("pruning_core.analysis", "pruning_core.pruners")):
            assert "pruning_core.runner" not in targets, name
        if name.startswith("pruning_core.pruners"):
            assert "pruning_core.models" not in targets, name


def test_config_registries_plans_and_plugins_import_without_torch():
    script = """
import sys
import pruning_core.api
from pruning_core.registry import REGISTRIES, ensure_builtins
from pruning_core.config import Config, field_specs
ensure_builtins()
for name in REGISTRIES["algorithm"].names():
    config = Config.from_dict({"algorithm": {"name": name}})
    config.plan().epochs(config.training)
for name in REGISTRIES["score"].names():
    field_specs(values={"pruner.score.name": name})
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))[:5]
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
