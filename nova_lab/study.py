"""Run the study's notebooks with papermill; every params file is validated before the first one starts.

Steps 01-02 run once with `params/study.yaml`; steps 03-05 run per model with
`params/<model>.yaml`; step 06 runs once over the models and is rendered to HTML (code
hidden). An overlay (such as `params/smoke.yaml`) is applied last to all of them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

from nova_lab import notebook_utils, paths
from nova_lab.params import ParamsError, StudyParams, for_step, load_params

SHARED_STEPS = ("01_data_prep", "02_kb_build")
MODEL_STEPS = ("03_fine_tune", "04_inference", "05_judging")
ANALYSIS_STEP = "06_analysis"
MODELS = ("micro", "lite")


def run_notebook(step: str, params: StudyParams, executed_dir: Path) -> float:
    """Execute one notebook into `executed_dir`; returns its wall time in seconds."""
    print(f"nova-lab: running {step} -> {executed_dir / (step + '.ipynb')}", flush=True)
    started = time.perf_counter()
    papermill.execute_notebook(
        paths.NOTEBOOKS / f"{step}.ipynb", executed_dir / f"{step}.ipynb",
        parameters=for_step(params, step), cwd=str(paths.NOTEBOOKS), progress_bar=True,
    )
    return round(time.perf_counter() - started, 1)


def render_html(notebook: Path) -> Path:
    """The executed notebook as HTML for readers: figures, tables and prose; no code, no recorded values."""
    node = nbformat.read(notebook, as_version=4)
    for cell in node.cells:
        cell["outputs"] = [o for o in cell.get("outputs", []) if notebook_utils.MIME_TYPE not in o.get("data", {})]
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(node)
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def run_study(models: tuple[str, ...] = MODELS, overlay: str | Path | None = None) -> dict[str, float]:
    """The whole study; executed notebooks, parameters and wall times go to outputs/<run_name>/."""
    extra = [overlay] if overlay else []
    shared = load_params(paths.PARAMS / "study.yaml", *extra).model_copy(update={"models": list(models)})
    per_model = {m: load_params(paths.PARAMS / f"{m}.yaml", *extra) for m in models}
    mismatched = [m for m, p in per_model.items() if p.run_name != shared.run_name]
    if mismatched:
        raise ParamsError(f"params for {mismatched} write to another run_name than {shared.run_name!r}")
    if shared.backend == "bedrock" and shared.bedrock.recording != "replay":  # a replay costs nothing
        from nova_lab.bedrock import plan

        plan.check_budget(plan.build(shared, list(models)), shared.bedrock.max_usd)  # before any request
    folder = paths.run_dir(shared.run_name)
    (folder / "params.json").write_text(json.dumps(
        {"shared": shared.model_dump(), **{m: p.model_dump() for m, p in per_model.items()}}, indent=2))
    timings: dict[str, float] = {}

    def step(name: str, label: str, params: StudyParams, executed_dir: Path) -> None:
        timings[label] = run_notebook(name, params, executed_dir)
        (folder / "timings.json").write_text(json.dumps(timings, indent=2))  # the analysis reads it

    for name in SHARED_STEPS:
        step(name, name, shared, folder)
    for model, params in per_model.items():
        for name in MODEL_STEPS:
            step(name, f"{model}/{name}", params, paths.run_dir(shared.run_name, model))
    step(ANALYSIS_STEP, ANALYSIS_STEP, shared, folder)
    started = time.perf_counter()
    render_html(folder / f"{ANALYSIS_STEP}.ipynb")
    timings["render_html"] = round(time.perf_counter() - started, 1)
    (folder / "timings.json").write_text(json.dumps(timings, indent=2))
    return timings
