"""MkDocs hook: put the code that runs, and the checks it passes, into the pages.

Markers a page may hold (each on its own line):

``<!-- code: glassnet.layers.dense.Dense.forward glassnet.layers.dense.Dense.backward -->``
    the source of each named function, class or module, taken from the source file at
    build time, in a code block titled with its file and line numbers. A name that does
    not exist fails the build, so docs and code cannot drift.
``<!-- gradcheck: Dense -->``
    the finite-difference check of every standard case whose label is ``Dense`` or starts
    with ``Dense(`` or ``Dense `` (stacked cases, ``A -> B``, excepted), from
    :func:`glassnet.gradcheck.run_standard_checks`, run at build time.
``<!-- gradcheck-table -->``
    every standard case with its worst relative error (the layer and loss index pages).
``<!-- torchcheck: sgd momentum=0.9 nesterov=True -->``
    an optimizer run for a few steps beside ``torch.optim`` from the same start; the
    largest difference (needs PyTorch, else the page says the check did not run).

A registered layer class that no page shows the code of, or a check whose error is over
``MAX_REL_ERROR``, is a warning, which ``mkdocs build --strict`` turns into a failure.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from functools import cache
from pathlib import Path

import numpy as np

log = logging.getLogger("mkdocs.hooks.glassnet")

MAX_REL_ERROR = 1e-6
MARKER = re.compile(r"^<!-- (code|gradcheck-table|gradcheck|torchcheck):?\s*(.*?)\s*-->$", re.M)
_shown_classes: set[str] = set()


def _resolve(dotted: str):
    """Import the longest importable module prefix of ``dotted``, then walk the attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def source_path(file: Path) -> str:
    """``src/glassnet/...py`` for a file of the package, wherever the package is imported from."""
    import glassnet

    package_parent = Path(glassnet.__file__).resolve().parents[1]
    return "src/" + file.resolve().relative_to(package_parent).as_posix()


def code_block(dotted: str) -> str:
    """A fenced block with the source of ``dotted``, titled ``path, lines a-b``."""
    try:
        obj = _resolve(dotted)
    except (ImportError, AttributeError):
        log.warning("code marker names %r, which does not exist", dotted)
        return f"**missing: `{dotted}`**"
    obj = inspect.unwrap(obj)
    lines, start = inspect.getsourcelines(obj)
    path = source_path(Path(inspect.getsourcefile(obj)))
    owner = dotted.rsplit(".", 1)[0] if inspect.isfunction(obj) else dotted
    _shown_classes.add(owner.rsplit(".", 1)[-1])
    source = inspect.cleandoc("".join(lines)) if lines[0][:1].isspace() else "".join(lines)
    first = max(start, 1)
    title = f"{path}, lines {first}-{first + len(lines) - 1}"
    return (f'```python title="{title}" linenums="{first}"\n{source.rstrip()}\n```')


@cache
def standard_checks() -> tuple[tuple[str, str, float], ...]:
    from glassnet.gradcheck import run_standard_checks

    rows = tuple(run_standard_checks())
    for label, key, err in rows:
        if err > MAX_REL_ERROR:
            log.warning("gradient check %s/%s has relative error %.2e > %.0e", label, key, err,
                        MAX_REL_ERROR)
    return rows


def _verdict(err: float) -> str:
    return "pass" if err <= MAX_REL_ERROR else "**FAIL**"


def gradcheck_rows(prefix: str) -> str:
    rows = [r for r in standard_checks() if _case_of(r[0], prefix)]
    if not rows:
        log.warning("no standard gradient-check case is labelled %r", prefix)
        return f"**no gradient check for `{prefix}`**"
    lines = ["| case | gradient of | max relative error | |", "| --- | --- | --- | --- |"]
    lines += [f"| `{label}` | `{key}` | {err:.2e} | {_verdict(err)} |" for label, key, err in rows]
    return "\n".join(lines) + _check_note()


def _case_of(label: str, prefix: str) -> bool:
    """``Dense``, ``Dense(relu)`` and ``BatchNorm (N, D)`` are cases of one layer; stacked
    cases (``Dense -> BatchNorm``) belong to the index table only."""
    if label == prefix:
        return True
    return label.startswith(prefix) and label[len(prefix)] in "( " and "->" not in label


def gradcheck_table() -> str:
    worst: dict[str, float] = {}
    for label, _, err in standard_checks():
        worst[label] = float(np.max([err, worst.get(label, 0.0)]))  # keeps a NaN
    lines = ["| case | worst relative error | |", "| --- | --- | --- |"]
    lines += [f"| `{label}` | {err:.2e} | {_verdict(err)} |" for label, err in worst.items()]
    return "\n".join(lines) + _check_note()


def _check_note() -> str:
    import numpy as np

    return (f"\n\n*Computed when this page was built: centered differences, h = 1e-5, float64, "
            f"NumPy {np.__version__}; `glassnet gradcheck` prints the same table.*")


def torch_check(spec: str) -> str:
    """Run a glassnet optimizer and its ``torch.optim`` twin for 5 steps; report the difference."""
    import numpy as np

    from glassnet import optimizers

    name, *pairs = spec.split()
    kwargs = {k: _literal(v) for k, v in (p.split("=", 1) for p in pairs)}
    try:
        import torch
    except ImportError:
        return (f"*`torch.optim` comparison for `{spec}` not run: PyTorch is not installed "
                "in the environment that built these pages (`make test` installs it).*")
    torch_names = {"sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam",
                   "adamw": "AdamW"}
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    ours, p = optimizers.get(name, **kwargs), p0.copy()
    tp = torch.tensor(p0.copy(), requires_grad=True)
    theirs = getattr(torch.optim, torch_names[name])([tp], **kwargs)
    for g in grads:
        ours.step([("p", p, g)])
        tp.grad = torch.tensor(g)
        theirs.step()
    diff = float(np.abs(p - tp.detach().numpy()).max())
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    verdict = "pass" if diff < 1e-12 else "**FAIL**"
    if diff >= 1e-12:
        log.warning("optimizer %s differs from torch.optim by %.2e", spec, diff)
    return (f"| glassnet | torch {torch.__version__} | steps | max \\|difference\\| | |\n"
            f"| --- | --- | --- | --- | --- |\n"
            f"| `optimizers.get({name!r}{', ' if args else ''}{args})` | "
            f"`torch.optim.{torch_names[name]}` | 5 | {diff:.1e} | {verdict} |\n\n"
            "*Computed when this page was built: a (4, 3) float64 parameter, five random gradients, "
            "the same start for both.*")


def _literal(text: str):
    if text in ("True", "False"):
        return text == "True"
    if text.startswith("("):
        return tuple(float(v) for v in text.strip("()").split(","))
    return float(text)


def on_page_markdown(markdown: str, page, config, files) -> str:
    def replace(match: re.Match) -> str:
        kind, arg = match.group(1), match.group(2)
        if kind == "code":
            return "\n\n".join(code_block(name) for name in arg.split())
        if kind == "gradcheck":
            return gradcheck_rows(arg)
        if kind == "gradcheck-table":
            return gradcheck_table()
        return torch_check(arg)

    return MARKER.sub(replace, markdown)


def on_post_build(config) -> None:
    """Every registered layer class must have its code shown on some page."""
    from glassnet.layers.base import LAYER_CLASSES

    missing = sorted(set(LAYER_CLASSES) - _shown_classes - {"Layer"})
    if missing:
        log.warning("layer classes with no documentation page showing their code: %s "
                    "(add docs/layers/<name>.md with a '<!-- code: ... -->' marker)", missing)
