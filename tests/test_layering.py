"""The package's layering: imports point one way, CLIs are thin, cheap modules stay free of TensorFlow.

The graph is read from the source (every ``import tfclf...``, including those inside
functions), so a cycle cannot hide behind a function-level import, and a fresh
interpreter checks that the contract modules really load without TensorFlow.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfclf"

# Every `python -m tfclf.X` (and `tfclf.__main__`, the `tfclf X` dispatcher). Each is a thin
# module over a library with a noun name.
CLIS = {"tfclf.__main__", "tfclf.fit", "tfclf.tune", "tfclf.export", "tfclf.evaluate", "tfclf.predict",
        "tfclf.explain", "tfclf.baseline", "tfclf.data.__main__", "tfclf.encoders.__main__", "tfclf.topics.__main__",
        "tfclf.predict_beam"}
# Modules that must not import TensorFlow, even indirectly: the CLIs check their input with
# them before TensorFlow is loaded, and reading a run's files must stay cheap.
NO_TENSORFLOW = ("tfclf.errors", "tfclf.outputs", "tfclf.atomic", "tfclf.labels", "tfclf.config",
                 "tfclf.rundir", "tfclf.cli", "tfclf.topics", "tfclf.topics.config", "tfclf.commands",
                 "tfclf.__main__", "tfclf.progress")
HEAVY = ("tensorflow", "tf_keras", "tensorflow_hub", "tensorflow_text", "keras", "keras_tuner")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str], package_dir: Path = PACKAGE) -> tuple[set[str], set[str]]:
    """(tfclf modules, other top-level packages) that ``path`` imports anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = module_name(path, package_dir)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    ours, others = set(), set()

    def add(name: str) -> None:
        while name and name not in known:  # `from tfclf.data.readers import x` -> the module
            name = name.rpartition(".")[0]
        if name and name != this:
            ours.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (add if alias.name.startswith("tfclf") else others.add)(
                    alias.name if alias.name.startswith("tfclf") else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if not source.startswith("tfclf"):
                others.add(source.split(".")[0])
                continue
            for alias in node.names:  # `from tfclf import train` imports the module tfclf.training
                full = f"{source}.{alias.name}"
                add(full if full in known else source)
    return ours, others


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, set(found))[0] for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path [a, b, ..., a], or [] when the graph is acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.split(".")[0] != "tfclf":
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_find_cycle_finds_a_cycle_hidden_two_modules_deep():
    assert find_cycle({"tfclf.a": {"tfclf.b"}, "tfclf.b": {"tfclf.c"}, "tfclf.c": {"tfclf.a"}}) == \
        ["tfclf.a", "tfclf.b", "tfclf.c", "tfclf.a"]
    assert find_cycle({"tfclf.a": {"tfclf.b"}, "tfclf.b": set(), "tfclf.c": {"tfclf.a", "tfclf.b"}}) == []


def test_the_import_graph_has_no_cycle(graph):
    # The package's own __init__ re-exports the API, so it sits on top; its submodules
    # importing `tfclf` for a sibling resolve to the sibling, not to the package.
    body = {name: {d for d in deps if d != "tfclf"} for name, deps in graph.items()}
    cycle = find_cycle(body)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_imports_inside_functions_count(tmp_path):
    """A function-level import is an edge of the graph like any other."""
    pkg = tmp_path / "tfclf"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from tfclf import b\n")
    (pkg / "b.py").write_text("from tfclf.a import f\n")
    known = {"tfclf.a", "tfclf.b"}
    graph = {name: imports_of(pkg / f"{name[6:]}.py", known, pkg)[0] for name in known}
    assert graph == {"tfclf.a": {"tfclf.b"}, "tfclf.b": {"tfclf.a"}}
    assert find_cycle(graph) == ["tfclf.a", "tfclf.b", "tfclf.a"]


def test_every_cli_is_thin_and_every_main_is_a_cli():
    found = modules()
    with_main = {name for name, path in found.items()
                 if any(isinstance(n, ast.FunctionDef) and n.name == "main"
                        for n in ast.parse(path.read_text(encoding="utf-8")).body)}
    assert with_main == {c for c in CLIS if c in found}, (
        "a module with main() is a CLI; CLIs: " + ", ".join(sorted(CLIS)))
    for name in sorted(with_main):
        tree = ast.parse(found[name].read_text(encoding="utf-8"))
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        public = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
        assert not classes, f"{name}: a CLI defines no classes (move {classes} to its library)"
        assert set(public) <= {"build_parser", "main"}, f"{name}: library functions in a CLI: {public}"


def test_library_modules_have_noun_names():
    verbs = {"fit", "tune", "export", "evaluate", "predict", "explain", "baseline", "train"}
    libraries = {name for name in modules() if name not in CLIS}
    assert not {n for n in libraries if n.rpartition(".")[2] in verbs}, \
        "a library module is named for what it owns (a noun); verbs are the CLIs"


@pytest.mark.parametrize("name", NO_TENSORFLOW)
def test_contract_modules_import_no_tensorflow(name, graph):
    found = modules()
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in found:
            continue
        seen.add(current)
        todo.extend(d for d in graph[current] if d != "tfclf")
    heavy = {m: sorted(set(HEAVY) & imports_of(found[m], set(found))[1]) for m in sorted(seen)}
    heavy = {m: h for m, h in heavy.items() if h}
    assert not heavy, f"{name} reaches TensorFlow through {heavy}"


def test_contract_modules_load_without_tensorflow_in_a_fresh_interpreter():
    code = ("import sys\n"
            f"import {', '.join(NO_TENSORFLOW)}\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
