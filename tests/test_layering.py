"""The package's layering, read from its imports (every import, at the top of a module or inside a function).

The wings follow the study's steps; a wing may use the core and the wings before it, never one after it, so the
folder list reads as the pipeline and a change to a late step cannot break an early one. The core knows no wing,
the offline wings know no backend, and only the entrances (the backend adapter, the runner, the CLI and the run's
manifest) reach Amazon Bedrock."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from nova_lab.core import paths

PACKAGE = paths.PROJ_ROOT / "nova_lab"
# Lowest first: each may import itself and what stands before it.
LAYERS = ("core", "data", "retrieval", "tuning", "answering", "judging", "costing", "analysis", "bedrock", "entrance")
PARAMS_MAY_READ = {"nova_lab.core.study_models", "nova_lab.core.study_steps", "nova_lab.core.bedrock_models",
                   "nova_lab.core.vocabulary"}
PRESENTATION = {"nova_lab.analysis.report", "nova_lab.analysis.figures", "nova_lab.analysis.findings",
                "nova_lab.analysis.bottom_line"}
STEP_06 = "nova_lab.analysis.step"  # step 06's one entry assembles the numbers and the words the notebook shows


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else "entrance"


def imports(path: Path) -> set[str]:
    """The nova_lab modules a file imports (`from nova_lab.x import y` is x.y when y is a module, else x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nova_lab"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("nova_lab")}
    return found - {"nova_lab"}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports(path) for name, path in MODULES.items()}


def edges() -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in GRAPH.items() for b in targets if a != b)


def test_every_wing_imports_only_the_core_and_the_wings_before_it():
    back = [f"{a} -> {b}" for a, b in edges() if LAYERS.index(layer(b)) > LAYERS.index(layer(a))]
    assert not back, "imports that run against the pipeline:\n" + "\n".join(back)


def test_every_import_of_the_package_names_a_module_that_is_there():
    """A module moved to another wing and an import left behind inside a function fails only when that function
    runs; this finds it on every file of the package, the tests, the benchmarks and the notebooks' sources."""
    sources = {path: path.read_text() for path in
               [*MODULES.values(), *paths.PROJ_ROOT.glob("tests/*.py"), *paths.PROJ_ROOT.glob("benchmarks/*.py")]}
    for notebook in paths.NOTEBOOKS.glob("*.ipynb"):
        cells = nbformat.read(notebook, as_version=4).cells
        sources[notebook] = "\n".join(c.source for c in cells if c.cell_type == "code")
    missing = []
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nova_lab"):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                           if (PACKAGE.parent / node.module.replace(".", "/") / "__init__.py").exists()]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("nova_lab")]
            else:
                continue
            missing += [f"{path.name}:{node.lineno}: {t}" for t in targets if t not in MODULES]
    assert not missing, "\n".join(missing)


def test_params_reads_names_not_implementations():
    """Validating a params file must not load a model, a judge or boto3: params reads the tables of names only."""
    assert GRAPH["nova_lab.core.params"] <= PARAMS_MAY_READ


def test_computation_does_not_import_presentation():
    wrong = [f"{a} -> {b}" for a, b in edges() if b in PRESENTATION and a not in PRESENTATION | {STEP_06}
             and layer(a) != "entrance"]
    assert not wrong, "\n".join(wrong)


def test_answering_takes_the_adapters_path_from_the_artefacts_not_from_the_trainer():
    assert "nova_lab.tuning.finetune" not in GRAPH["nova_lab.answering.inference"]


@pytest.mark.parametrize("wing", LAYERS[:-1])
def test_each_wing_is_a_folder_that_says_what_it_holds(wing):
    init = PACKAGE / wing / "__init__.py"
    assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), f"{init}: a docstring says what the wing holds"
