"""One-way layers: the library computes data and draws nothing (Plotly only in the explorer's drawing modules
and above them), ``app.py`` only lays out the page and wires its events, and no module the app imports is a
command-line tool or a benchmark (those are ``bench/`` and ``seq2seq/tools/``, which the app never imports).

What the app imports is read from a fresh interpreter (``sys.modules`` before and after); what a module
imports is read from its source (every import statement in it, a function's own included)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

APP_MAX_LINES = 600
# The modules the app imports that still have a command line (import argparse), besides app.py's own, each with
# why: ``python -m seq2seq.evaluate`` is the documented scoring command, and the sentence BLEU the app shows
# (service.py) and the corpus scores the analysis uses are defined beside it.
COMMAND_LINES = {"seq2seq.evaluate"}


def imported_by(statement: str) -> set[str]:
    """The modules a fresh interpreter in the project's root loads running ``statement``."""
    code = f"import json, sys\nbefore = set(sys.modules)\n{statement}\nprint(json.dumps(sorted(set(sys.modules) - before)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def source(name: str) -> Path | None:
    """The project's file of module ``name`` (None: not one of the project's modules)."""
    if name.split(".")[0] not in ("app", "seq2seq", "bench"):
        return None
    base = ROOT.joinpath(*name.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    return path if path.is_file() else None


def imports(name: str) -> set[str]:
    """The absolute names of every module the source of ``name`` imports (relative imports resolved; for
    ``from package import x``, both the package and ``package.x``, which may be a module)."""
    path = source(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def imports_top(name: str, top: str) -> bool:
    return any(module.split(".")[0] == top for module in imports(name))


def closure(roots: list[str]) -> set[str]:
    """``roots`` and every project module their sources import, followed through the project's modules."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen and source(name) is not None:
            seen.add(name)
            todo += imports(name)
    return seen


def library_modules() -> list[str]:
    """The core modules (seq2seq/*.py), and every module of seq2seq/analysis/ and seq2seq/models/."""
    names = ["seq2seq"] + [f"seq2seq.{p.stem}" for p in sorted((ROOT / "seq2seq").glob("*.py")) if p.stem != "__init__"]
    for package in ("analysis", "models"):
        names += [f"seq2seq.{package}"] + [f"seq2seq.{package}.{p.stem}"
                                           for p in sorted((ROOT / "seq2seq" / package).glob("*.py")) if p.stem != "__init__"]
    return names


def test_app_py_is_under_600_lines():
    lines = len((ROOT / "app.py").read_text(encoding="utf-8").splitlines())
    assert lines < APP_MAX_LINES, (f"app.py has {lines} lines: it lays out the page and wires its events; what a "
                                   "callback computes or writes belongs in seq2seq/explorer (service, figures, text, api)")


def test_the_app_imports_no_command_line_tool_or_benchmark():
    loaded = {name for name in imported_by("import app") if source(name) is not None}
    assert {"app", "seq2seq.explorer.service", "seq2seq.explorer.api"} <= loaded       # the probe saw the app's imports
    tools = sorted(n for n in loaded if n.split(".")[0] == "bench" or n.startswith("seq2seq.tools"))
    assert not tools, f"the app imports {tools}: benchmarks live in bench/, commands in seq2seq/tools/"
    with_command_line = {name for name in loaded - {"app"} if imports_top(name, "argparse")}
    assert with_command_line == COMMAND_LINES, ("the modules the app imports that define a command line (argparse) "
                                                "are not the known ones: move a new one's command to bench/ or "
                                                "seq2seq/tools/, or drop one that has gone from COMMAND_LINES")


def test_the_library_loads_no_plotly():
    """Importing every core, analysis and model module loads no Plotly: they compute data."""
    loaded = imported_by("\n".join(f"import {name}" for name in library_modules()))
    assert "seq2seq.models.transformer" in loaded and "seq2seq.analysis.maps" in loaded
    assert "plotly" not in {name.split(".")[0] for name in loaded}


def test_the_service_and_what_it_imports_import_no_plotly():
    """service.py computes what the page shows; neither it nor a project module it imports (followed through
    their imports) imports Plotly, so no drawing module is among them."""
    reached = closure(["seq2seq.explorer.service"])
    assert {"seq2seq.explorer.service", "seq2seq.translator", "seq2seq.analysis.maps"} <= reached
    drawing = sorted(name for name in reached if imports_top(name, "plotly"))
    assert not drawing, f"service.py reaches Plotly through {drawing}"


def test_importing_the_service_loads_no_plotly():
    loaded = imported_by("import seq2seq.explorer.service")
    assert "plotly" not in {name.split(".")[0] for name in loaded}
