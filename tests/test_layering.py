"""The import layering of the package: info <- torch side <- jobs <- tracking <- probe <- cli.

Read from the source (no imports run): each room may import only the rooms below it, so the
information measures stay usable without torch or MLflow, and only tracking talks to MLflow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nninfo"
# room -> rooms (nninfo subpackages/modules) it must not import, and third-party roots
FORBIDDEN = {
    "info": ({"nn", "tasks", "training", "capture", "jobs", "tracking", "cli", "config"},
             {"torch", "mlflow"}),
    "nn": ({"tasks", "training", "jobs", "tracking", "cli"}, {"mlflow"}),
    "training": ({"jobs", "tracking", "cli"}, {"mlflow"}),
    "jobs": ({"tracking", "cli"}, {"mlflow"}),
    "tracking": ({"cli", "probe"}, set()),
    # any PyTorch module: measures through jobs, results through tracking
    "probe": ({"cli"}, set()),
    # figures and the HTML report: from results frames and the typed config, no run store
    "presentation": ({"nn", "tasks", "training", "capture", "jobs", "tracking", "cli"},
                     {"torch", "mlflow"}),
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path, top_level: bool = False) -> set[str]:
    """Modules a module imports (``from a import b`` counts ``a.b`` if that is a module);
    with ``top_level``, only those imported when the module itself is imported."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names = set()
    for node in tree.body if top_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], base]).strip(".")
            subs = {f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")}
            names |= subs or {base}
    return names


def _room(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_room_imports_only_the_rooms_below_it(path):
    rooms, third_party = FORBIDDEN.get(_room(path), (set(), set()))
    bad = sorted(name for name in _imports(path)
                 if (name.startswith("nninfo.") and name.split(".")[1] in rooms)
                 or name.split(".")[0] in third_party)
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_circle():
    """No module imports a module that imports it back, directly or not (lazy imports too)."""
    graph = {_name(p): {n for n in _imports(p) if n.startswith("nninfo.")}
             for p in _modules()}
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            pytest.fail("import circle: " + " -> ".join([*stack[stack.index(node):], node]))
        if node in done:
            return
        for nxt in graph.get(node, ()):
            # a package's __init__ importing its own submodules is not a circle
            if not nxt.startswith(node + "."):
                visit(nxt, [*stack, node])
        done.add(node)

    for module in graph:
        visit(module, [])


def test_no_module_is_a_hub():
    """No module pulls in more than 8 other nninfo modules (the old experiment.py took 13)."""
    counts = {}
    for path in _modules():
        own = {n for n in _imports(path) if n.startswith("nninfo.")}
        counts[str(path.relative_to(PACKAGE))] = len(own)
    hubs = {k: v for k, v in counts.items() if v > 8 and not k.endswith("__init__.py")}
    assert not hubs, hubs


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module's code (docstrings left out), with their lines."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


#: Strings equal to a measure's name that name something else: the config key
#: analysis.surrogates.pid (the number of PID shuffles) and the PID atoms' artifact table.
NOT_MEASURES = {("config/spec.py", "pid"), ("config/analysis.py", "pid"),
                ("tracking/analyze.py", "pid")}


def test_measure_names_appear_only_in_the_catalogue():
    """No module but nninfo/info/catalog.py spells a measure's name or one of its result
    keys (``pid.deg_syn_``) in code: the config, the checks, the jobs, the metric whitelist,
    the figures and the report read the catalogue (a name spelled anywhere else would be a
    second list to forget)."""
    import re

    from nninfo.info.catalog import entries

    names = {n for e in entries() for n in (e.name, *e.aliases)}
    key = re.compile(r"(^|/)(" + "|".join(map(re.escape, names)) + r")\.")
    catalog = PACKAGE / "info" / "catalog.py"
    found = []
    for path in _modules():
        where = str(path.relative_to(PACKAGE))
        for line, text in _code_strings(path):
            if path == catalog or (where, text) in NOT_MEASURES or re.search(r"\s", text):
                continue
            if text in names or key.search(text):
                found.append(f"{where}:{line}: {text!r}")
    assert not found, "\n".join(found)
