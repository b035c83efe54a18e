"""The package's layering, read from its imports (every import, at the top of a module or inside a function).

The wings follow the study's steps; a wing may use the core and the wings before it, never one after it, so the
folder list reads as the pipeline and a change to a late step cannot break an early one. The core knows no wing,
the offline wings know no backend, and only the entrances (the backend adapter, the runner and the CLI) reach
Amazon Bedrock."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from nova_lab.core import paths

PACKAGE = paths.PROJ_ROOT / "nova_lab"
# Lowest first: each may import itself and what stands before it.
LAYERS = ("core", "data", "retrieval", "tuning", "answering", "judging", "costing", "analysis", "bedrock", "entrance")
ENTRANCES = {"nova_lab", "nova_lab.backends", "nova_lab.runner", "nova_lab.cli"}  # may import every wing
PARAMS_MAY_READ = {"nova_lab.core.study_models", "nova_lab.core.study_steps", "nova_lab.core.bedrock_models",
                   "nova_lab.core.vocabulary", "nova_lab.core.paths"}  # what it imports, and what those import
PRESENTATION = {"nova_lab.analysis.report", "nova_lab.analysis.figures", "nova_lab.analysis.findings",
                "nova_lab.analysis.bottom_line"}
STEP_06 = "nova_lab.analysis.step"  # step 06's one entry assembles the numbers and the words the notebook shows


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    """A wing's modules (its `__init__` too) are in its layer; the entrances are named; anything else fails."""
    if module in ENTRANCES:
        return "entrance"
    wing = module.split(".")[1]
    assert wing in LAYERS[:-1], f"{module} is in no wing: put it in one, or name it an entrance in this test"
    return wing


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


def reached(module: str) -> set[str]:
    """Every module that importing `module` loads, through the package's own imports."""
    seen, todo = set(), [module]
    while todo:
        for target in GRAPH.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen - {module}


def test_every_module_is_in_a_wing_or_is_a_named_entrance_and_imports_absolutely():
    relative = [f"{name}:{node.lineno}" for name, path in MODULES.items()
                for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom) and node.level]
    assert not relative, f"relative imports, which this test cannot place: {relative}"
    assert {layer(name) for name in MODULES} <= set(LAYERS)


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


def bound_names(path: Path) -> set[str]:
    """The names a module binds at its top level (or under a top-level `if`, such as TYPE_CHECKING)."""
    names, body = set(), list(ast.parse(path.read_text()).body)
    while body:
        node = body.pop()
        if isinstance(node, ast.If | ast.Try):
            body += node.body + node.orelse + getattr(node, "handlers", [])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def test_every_name_imported_from_a_module_of_the_package_is_defined_there():
    """`from nova_lab.judging.judges import BedrockJudge` left inside a function after the class moved fails only
    when that function runs: found here."""
    wrong = []
    for path in [*MODULES.values(), *paths.PROJ_ROOT.glob("tests/*.py"), *paths.PROJ_ROOT.glob("benchmarks/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in MODULES and not MODULES[node.module].name == "__init__.py":
                defined = bound_names(MODULES[node.module])
                wrong += [f"{path.name}:{node.lineno}: {a.name} from {node.module}" for a in node.names if a.name not in defined]
    assert not wrong, "\n".join(wrong)


def test_params_reads_names_not_implementations():
    """Validating a params file must not load a model, a judge or boto3: params reads the tables of names only."""
    assert reached("nova_lab.core.params") <= PARAMS_MAY_READ


def test_computation_does_not_import_presentation():
    wrong = [f"{a} -> {sorted(reached(a) & PRESENTATION)}" for a in MODULES
             if a not in PRESENTATION | {STEP_06} and layer(a) != "entrance" and reached(a) & PRESENTATION]
    assert not wrong, "\n".join(wrong)


def test_answering_takes_the_adapters_path_from_the_artefacts_not_from_the_trainer():
    assert "nova_lab.tuning.finetune" not in GRAPH["nova_lab.answering.inference"]


@pytest.mark.parametrize("wing", LAYERS[:-1])
def test_each_wing_is_a_folder_that_says_what_it_holds(wing):
    init = PACKAGE / wing / "__init__.py"
    assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), f"{init}: a docstring says what the wing holds"
