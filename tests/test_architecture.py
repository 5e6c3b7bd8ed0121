"""The dependency rules of the design document, checked on the source itself.

README "Architecture" states them: the core never imports ``data``, ``io``, ``report``,
the search or run modules or ``cli`` (one exception: ``Sequential.save`` hands off to
``io.format`` inside the method); ``data`` imports no layer, model or training code;
layers never import ``model`` or ``training``; only ``cli``, the search modules and the run
report import the run modules; nothing but ``cli`` imports ``cli``; optional extras are
imported inside the functions that need them, never when a module loads (an import under
``if TYPE_CHECKING:``, for annotations only, never runs). A rule broken by
a new import fails here with the file and line, before it becomes a cycle or a slow start.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "glassnet"

CORE = ("backend", "functional", "layers", "losses", "initializers", "optimizers", "schedules",
        "model", "building", "compile_checks", "model_state", "training", "gradcheck", "metrics",
        "split", "errors", "_checks", "_text", "inputs", "inference", "scratch")
OUTSIDE_THE_CORE = ("data", "io", "report", "cli", "zoo", "search", "search_*", "runs", "run_*")
# Extras (and the drivers they bring) that a user may not have installed: a module-level
# import would make ``import glassnet`` fail without them.
OPTIONAL = ("cupy", "cupyx", "onnx", "onnxruntime", "optuna", "sqlalchemy", "psycopg", "psycopg2",
            "torch", "selenium")


class Import(NamedTuple):
    source: str        # "glassnet.model"
    target: str        # "glassnet.io.format", or "optuna" for a third-party module
    line: int
    function: str | None  # the enclosing function, None at module level
    typing_only: bool = False  # under ``if TYPE_CHECKING:``: for annotations, never run


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> list[str]:
    name = module_name(path).split(".")
    return name if path.name == "__init__.py" else name[:-1]


def _resolved(path: Path, node: ast.ImportFrom) -> list[str]:
    """The modules a ``from X import a, b`` names: ``X``, and ``X.a`` where ``a`` is a module."""
    if node.level:
        package = _package_of(path)
        base = package[: len(package) - node.level + 1]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    names = [stem]
    for alias in node.names:
        candidate = SRC.joinpath(*f"{stem}.{alias.name}".split("."))
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            names.append(f"{stem}.{alias.name}")
    return names


class _Collector(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path, self.source, self.functions = path, module_name(path), []
        self.imports: list[Import] = []
        self.typing_only = False

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802 (ast's name)
        self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:  # noqa: N802
        self._visit_function(node)

    def visit_If(self, node: ast.If) -> None:  # noqa: N802
        test = node.test
        if (test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)) != "TYPE_CHECKING":
            self.generic_visit(node)
            return
        self.typing_only = True
        for statement in node.body:
            self.visit(statement)
        self.typing_only = False
        for statement in node.orelse:
            self.visit(statement)

    def _add(self, target: str, node: ast.stmt) -> None:
        function = self.functions[-1] if self.functions else None
        self.imports.append(Import(self.source, target, node.lineno, function, self.typing_only))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for target in _resolved(self.path, node):
            self._add(target, node)


def all_imports() -> list[Import]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        collector = _Collector(path)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += collector.imports
    return found


def within(module: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``glassnet.<pattern>`` is ``module`` or a package above it (``search_*``
    matches every ``glassnet.search_...`` module)."""
    if not module.startswith("glassnet."):
        return False
    first = module.split(".")[1]
    rest = module[len("glassnet."):]
    for pattern in patterns:
        if pattern.endswith("*"):
            if first.startswith(pattern[:-1]):
                return True
        elif rest == pattern or rest.startswith(pattern + "."):
            return True
    return False


def broken(rule: str, imports: list[Import]) -> list[str]:
    return [f"{rule}: {i.source} imports {i.target} (line {i.line})" for i in imports]


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports()


def test_the_collector_sees_relative_and_function_level_imports(imports):
    # Without these, every rule below would pass on an empty list.
    assert Import("glassnet.model", "glassnet.io.format", 0, "save")._replace(line=0) in [
        i._replace(line=0) for i in imports]
    assert any(i.source == "glassnet.layers.conv" and i.target == "glassnet.functional"
               for i in imports)
    assert any(i.target == "optuna" and i.function for i in imports)
    assert Import("glassnet.model_state", "glassnet.model", 0, None, True) in [
        i._replace(line=0) for i in imports]


def test_the_core_imports_no_data_io_report_search_run_or_cli_module(imports):
    allowed = {("glassnet.model", "glassnet.io.format", "save")}  # Sequential.save hands off
    bad = [i for i in imports if within(i.source, CORE) and within(i.target, OUTSIDE_THE_CORE)
           and (i.source, i.target, i.function) not in allowed]
    assert not bad, "\n".join(broken("the core", bad))


def test_data_imports_no_layer_model_or_training_code(imports):
    bad = [i for i in imports if within(i.source, ("data",))
           and within(i.target, ("layers", "model", "training", "losses", "optimizers")
                      + OUTSIDE_THE_CORE[1:])]
    assert not bad, "\n".join(broken("data", bad))


def test_layers_import_neither_model_nor_training(imports):
    bad = [i for i in imports if within(i.source, ("layers",))
           and within(i.target, ("model", "training"))]
    assert not bad, "\n".join(broken("layers", bad))


def test_only_cli_the_search_modules_and_the_run_report_import_the_run_modules(imports):
    users = ("cli", "search", "search_*", "runs", "run_*", "report.run_report", "report.run_files")
    bad = [i for i in imports if within(i.target, ("runs", "run_*")) and not within(i.source, users)]
    assert not bad, "\n".join(broken("run modules", bad))


def test_nothing_outside_cli_imports_cli(imports):
    bad = [i for i in imports if within(i.target, ("cli",))
           and not (within(i.source, ("cli",)) or i.source == "glassnet.__main__")]
    assert not bad, "\n".join(broken("cli", bad))


def test_optional_extras_are_imported_only_where_they_are_used(imports):
    bad = [i for i in imports if i.function is None and not i.typing_only
           and i.target.split(".")[0] in OPTIONAL]
    assert not bad, "\n".join(broken("an optional extra at module level", bad))


@pytest.mark.parametrize("module, patterns, expected", [
    ("glassnet.search_space", ("search_*",), True),
    ("glassnet.searching", ("search",), False),
    ("glassnet.io.format", ("io",), True),
    ("glassnet.report.run_report", ("report.run_report",), True),
    ("glassnet.runs", ("run_*",), False),
    ("numpy", ("io",), False),
])
def test_within_matches_modules_and_the_packages_above_them(module, patterns, expected):
    assert within(module, patterns) is expected
