"""The package's architecture holds at import time: one top-level name, layers that import one way, and every
module importable first."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Repository folder -> the package it installs as.
FOLDERS = {"graphc": "graphc", "passes": "graphc.passes", "runtime": "graphc.runtime"}
# Imports a function may make: optional or heavy dependencies, and graphc modules that import them at the top.
DEFERRED = {"cupy", "cupyx", "cupy_backends", "networkx", "graphviz", "matplotlib", "mpi4py", "threadpoolctl",
            "graphc.ir.nxgraph", "graphc.runtime.gpu.blas", "graphc.runtime.gpu.kernels",
            "graphc.runtime.gpu.cuda_graph"}
OPTIONAL = {"cupy", "cupyx", "cupy_backends", "mpi4py", "graphviz"}


def modules() -> dict[str, Path]:
    """Every module of the package by its import name."""
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def layer(name: str) -> int:
    """0 the IR (and the configuration), 1 passes, 2 runtime, 3 the front end."""
    # graphc.tensor: the lazy module graphc/__init__.py registers (`from graphc.tensor import Tensor`); it loads
    # graphc.tensors only when a name is taken from it.
    if name in ("graphc", "graphc.config", "graphc.tensor") or name.startswith("graphc.ir"):
        return 0
    if name.startswith("graphc.passes"):
        return 1
    if name.startswith("graphc.runtime"):
        return 2
    return 3


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import statement of a module."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parent = ".".join(parts[:len(parts) - child.level + 1])
                    base = f"{parent}.{base}" if base else parent
                found.append((base, in_function))
            visit(child, inner)
    visit(tree, False)
    return found


def test_lower_layers_never_import_higher_ones_even_inside_functions():
    wrong = [f"{name} imports {target}" for name, path in modules().items()
             for target, _ in imports(name, path)
             if target.startswith("graphc") and layer(target) > layer(name)]
    assert not wrong


def test_function_level_imports_only_defer_heavy_or_optional_dependencies():
    inside = [f"{name}: {target}" for name, path in modules().items() for target, in_fn in imports(name, path)
              if in_fn and not any(target == d or target.startswith(d + ".") for d in DEFERRED)]
    assert not inside


# Run in a fresh interpreter: each module is imported after every graphc module is forgotten, so import
# order cannot hide a cycle; optional dependencies that are missing are reported, not failed.
_FIRST_IMPORT = """
import importlib, json, sys
results = {}
for name in json.loads(sys.argv[1]):
    for m in [m for m in sys.modules if m == "graphc" or m.startswith("graphc.")]:
        del sys.modules[m]
    try:
        importlib.import_module(name)
        results[name] = "ok"
    except ModuleNotFoundError as e:
        results[name] = "missing " + str(e.name)
    except Exception as e:
        results[name] = f"{type(e).__name__}: {e}"
print(json.dumps(results))
"""


def test_every_module_imports_first():
    names = list(modules())
    r = subprocess.run([sys.executable, "-c", _FIRST_IMPORT, json.dumps(names)], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    results = json.loads(r.stdout)
    bad = {n: why for n, why in results.items()
           if why != "ok" and not (why.startswith("missing ") and why.split()[1].split(".")[0] in OPTIONAL)}
    assert not bad
    assert len(results) == len(names) > 60


_LOADED = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m == "graphc" or m.startswith("graphc."))))
"""


@pytest.mark.parametrize("name, highest", [("graphc", 0), ("graphc.ir", 0), ("graphc.passes.pipeline", 1),
                                           ("graphc.runtime.compile", 2), ("graphc.runtime.planfile", 2)])
def test_importing_a_layer_loads_nothing_above_it(name, highest):
    r = subprocess.run([sys.executable, "-c", _LOADED, name], capture_output=True, text=True, cwd=ROOT, timeout=60)
    loaded = json.loads(r.stdout)
    assert name in loaded
    assert [m for m in loaded if layer(m) > highest] == []


def test_front_end_names_stay_where_megengine_users_expect_them():
    import graphc
    assert graphc.Tensor.__name__ == "Tensor" and callable(graphc.functional.relu)
    assert {"Tensor", "Parameter", "functional", "autodiff", "optimizer", "jit", "load"} <= set(dir(graphc))
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        graphc.nonsense  # noqa: B018


def test_user_modules_named_runtime_or_passes_do_not_shadow_graphc(tmp_path):
    for name in ("runtime", "passes", "ir"):
        (tmp_path / f"{name}.py").write_text("raise ImportError('the user module was imported')\n")
    code = ("import graphc, graphc.jit, graphc.runtime.planfile, graphc.passes.fuse\n"
            "from graphc import Tensor\nprint((Tensor([1.0]) * 2).numpy().tolist())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                       env={**os.environ, "PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[2.0]"


def test_the_wheel_installs_one_top_level_package(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel, = tmp_path.glob("graphc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"graphc"}
    for module in modules().values():   # every source file is in the wheel, under graphc/
        rel = module.relative_to(ROOT)
        installed = rel if rel.parts[0] == "graphc" else Path("graphc", *rel.parts)
        assert installed.as_posix() in names
