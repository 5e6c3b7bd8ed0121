"""The style guide's "type hints on public functions, docstrings that say shapes", checked
on the source itself.

Every public function and method in ``src/glassnet`` (a name without a leading underscore,
at module level or in a public class) annotates each parameter but ``self``/``cls`` and its
return; every public module-level function has a docstring. A new function that misses one
fails here with its file and line. ``EXEMPT`` lists, with the reason, what must stay as it is.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

from test_architecture import PACKAGE, SRC, module_name

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

# "module:qualified name" -> why it stays unannotated or without a docstring. Nothing yet.
EXEMPT: dict[str, str] = {}


class Public(NamedTuple):
    key: str             # "glassnet.model:Sequential.fit"
    where: str           # "glassnet/model.py:386"
    node: FunctionNode
    in_class: bool


def _inner_statements(node: ast.stmt) -> list[ast.stmt]:
    """The statements inside an ``if``/``try``/``with`` (a definition made there counts too)."""
    inner = [*getattr(node, "body", []), *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
    return inner + [s for handler in getattr(node, "handlers", []) for s in handler.body]


def _public_in(body: list[ast.stmt], module: str, file: str, prefix: str = "") -> list[Public]:
    """The public functions of a module or class body (of ``module``, in ``file``), and those
    of its public classes."""
    found = []
    for node in body:
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            found += _public_in(_inner_statements(node), module, file, prefix)
        if not isinstance(node, (ast.ClassDef, FunctionNode)) or node.name.startswith("_"):
            continue
        if isinstance(node, ast.ClassDef):
            found += _public_in(node.body, module, file, f"{prefix}{node.name}.")
        elif isinstance(node, FunctionNode):
            found.append(Public(f"{module}:{prefix}{node.name}", f"{file}:{node.lineno}", node,
                                bool(prefix)))
    return found


def public_functions(package: Path = PACKAGE) -> list[Public]:
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += _public_in(tree.body, module_name(path), str(path.relative_to(SRC)))
    return found


def unannotated(node: FunctionNode) -> list[str]:
    """The parameters (but ``self``/``cls``) without an annotation, and ``return`` when the
    return type is missing."""
    args = node.args
    params = [a for a in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs,
                          args.kwarg) if a is not None]
    missing = [a.arg for a in params if a.annotation is None and a.arg not in ("self", "cls")]
    return missing + (["return"] if node.returns is None else [])


@pytest.fixture(scope="module")
def functions() -> list[Public]:
    return public_functions()


def test_the_walk_finds_module_functions_methods_and_skips_private_ones(functions):
    # Without these, the checks below would pass on an empty list.
    keys = {f.key for f in functions}
    assert {"glassnet.model:Sequential.fit", "glassnet.backend:set_device",
            "glassnet.zoo:loss_for", "glassnet.cli.train:run"} <= keys
    assert "glassnet.backend:_check_gpu" not in keys
    assert not any(part.startswith("_") for key in keys for part in key.split(":")[1].split("."))


def test_the_walk_sees_definitions_under_if_and_try():
    source = ("try:\n    def a(x): pass\nexcept ImportError:\n    def b(): pass\n"
              "if True:\n    class C:\n        def m(self): pass\n        def _n(self): pass\n")
    found = _public_in(ast.parse(source).body, "glassnet.fallback", "glassnet/fallback.py")
    assert [f.key for f in found] == ["glassnet.fallback:a", "glassnet.fallback:b",
                                      "glassnet.fallback:C.m"]


def test_unannotated_names_each_missing_parameter_and_the_return():
    node = ast.parse("def f(self, a, b: int, *rest, key, **more): pass").body[0]
    assert unannotated(node) == ["a", "rest", "key", "more", "return"]
    node = ast.parse("def g(cls, a: int) -> None: pass").body[0]
    assert unannotated(node) == []


def test_every_public_function_and_method_is_annotated(functions):
    bad = [f"{f.where} {f.key.split(':')[1]}: no annotation for {', '.join(missing)}"
           for f in functions if f.key not in EXEMPT and (missing := unannotated(f.node))]
    assert not bad, f"{len(bad)} unannotated:\n" + "\n".join(bad)


def test_every_public_module_level_function_has_a_docstring(functions):
    bad = [f"{f.where} {f.key.split(':')[1]}" for f in functions
           if not f.in_class and f.key not in EXEMPT and ast.get_docstring(f.node) is None]
    assert not bad, f"{len(bad)} without a docstring:\n" + "\n".join(bad)


def test_every_exemption_names_a_public_function_that_still_exists(functions):
    keys = {f.key for f in functions}
    assert not [key for key in EXEMPT if key not in keys]


def _public_api() -> list[tuple[str, object]]:
    """Every function of ``glassnet.__all__``, the public methods of its classes, and the
    same for the modules it names (``glassnet.optimizers``: their own ``__all__``)."""
    import inspect

    import glassnet

    def members(owner: object, names: list[str], prefix: str) -> list[tuple[str, object]]:
        found = []
        for name in names:
            obj = getattr(owner, name)
            if inspect.isfunction(obj):
                found.append((f"{prefix}{name}", obj))
            elif inspect.isclass(obj):
                found += [(f"{prefix}{name}.{key}", f) for key, f in vars(obj).items()
                          if inspect.isfunction(f) and (not key.startswith("_") or key == "__init__")]
            elif inspect.ismodule(obj):
                found += members(obj, list(getattr(obj, "__all__", [])), f"{prefix}{name}.")
        return found

    import glassnet.data
    import glassnet.io
    import glassnet.training  # (packages with an __all__ of their own, which glassnet's omits)

    return members(glassnet, [*glassnet.__all__, "data", "io", "training"], "glassnet.")


def test_the_public_apis_type_hints_resolve_at_run_time():
    """typing.get_type_hints (what autodoc, typeguard and pydantic use) evaluates the
    annotations: a class named only under ``if TYPE_CHECKING:`` is a NameError there
    (``load_model``'s ``Sequential``, ``Sequential.fit``'s ``History`` were; and
    ``glassnet.io.save_checkpoint``'s, ``restore_training_state``'s and
    ``glassnet.training.fit``'s ``Sequential``)."""
    import typing

    api = _public_api()
    assert len(api) > 100  # the walk reaches the classes' methods and the modules' names
    failed = []
    for name, function in api:
        try:
            typing.get_type_hints(function)
        except NameError as exc:
            failed.append(f"{name}: {exc}")
    assert not failed, "\n".join(failed)


def test_the_installed_package_tells_type_checkers_to_read_its_hints():
    """PEP 561: without a ``py.typed`` marker in the package, mypy and pyright skip glassnet
    ("missing library stubs or py.typed marker") and every name of it is ``Any``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    assert (PACKAGE / "py.typed").is_file()
    config = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["glassnet"]  # in the wheel too
