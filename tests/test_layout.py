"""The package's layout rules (docs/architecture.md), read from the source's imports.

- no module over 800 lines;
- layers import only layers below them (or their own package), so there is no cycle;
- no stage module imports another stage: stages meet only in files on disk.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rootpipe"

#: lowest first; a module may import its own package and any package of a lower layer
LAYERS = [
    {"rootpipe", "rootpipe.columns", "rootpipe.resources", "rootpipe.allocator"},
    {"rootpipe.io", "rootpipe.skeleton", "rootpipe.config"},
    {"rootpipe.traits", "rootpipe.compat"},
    {"rootpipe.segmentation", "rootpipe.tracking", "rootpipe.synthetic"},
    {"rootpipe.learn", "rootpipe.reporting"},
    {"rootpipe.stages"},
    {"rootpipe.run", "rootpipe.view"},
    {"rootpipe.cli"},
]


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """rootpipe modules ``name`` imports anywhere (function bodies too), as module names."""
    known = modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "rootpipe" or m.startswith("rootpipe.")}


def layer_of(module: str) -> tuple[int, str]:
    """(layer, unit): the unit is the layer's package or module that holds ``module``."""
    for rank, units in enumerate(LAYERS):
        for unit in sorted(units, key=len, reverse=True):
            if module == unit or (unit != "rootpipe" and module.startswith(unit + ".")):
                return rank, unit
    raise AssertionError(f"{module} is in no layer of tests/test_layout.py: place it")


def test_no_module_is_over_800_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    assert {n: k for n, k in long.items() if k > 800} == {}


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_go_down_the_layers(name):
    rank, unit = layer_of(name)
    for target in imports(name, modules()[name]):
        if target == "rootpipe" and name != "rootpipe":  # __version__ only
            continue
        t_rank, t_unit = layer_of(target)
        assert t_unit == unit or t_rank < rank, f"{name} (layer {rank}) imports {target} (layer {t_rank})"


def test_no_stage_imports_another():
    stages = {n: p for n, p in modules().items() if n.startswith("rootpipe.stages.")}
    assert len(stages) == 7
    for name, path in stages.items():
        assert not [t for t in imports(name, path) if t.startswith("rootpipe.stages")], name


def test_the_checks_can_fail(tmp_path):
    """The import reader sees a stage importing another, relative or absolute, in a function body."""
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from rootpipe.stages.tile import run\n    from ..stages import segment\n")
    found = imports("rootpipe.stages.track", source)
    assert {"rootpipe.stages.tile", "rootpipe.stages.segment"} <= found
    with pytest.raises(AssertionError):
        layer_of("rootpipe.nowhere")


def code_lines(path: Path, node: ast.FunctionDef) -> int:
    """Lines of code in a function: no docstring, blank or comment lines."""
    lines = path.read_text().splitlines()[node.lineno - 1:node.end_lineno]
    body = node.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        lines = lines[body[0].end_lineno - node.lineno + 1:]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_functions_over_60_lines_say_why():
    long = []
    for name, path in modules().items():
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and code_lines(path, node) > 60:
                source = "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno])
                if "# Long on purpose:" not in source:
                    long.append(f"{name}.{node.name} ({code_lines(path, node)} lines)")
    assert long == []
