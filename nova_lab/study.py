"""Run the study's notebooks with papermill; every params file is validated before the first one starts.

Steps 01-02 run once with `params/study.yaml`; steps 03-04 run per model with
`params/<model>.yaml`. An overlay (such as `params/smoke.yaml`) is applied last to both.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import papermill

from nova_lab import paths
from nova_lab.params import ParamsError, StudyParams, for_step, load_params

SHARED_STEPS = ("01_data_prep", "02_kb_build")
MODEL_STEPS = ("03_fine_tune", "04_inference")
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


def run_study(models: tuple[str, ...] = MODELS, overlay: str | Path | None = None) -> dict[str, float]:
    """The whole study; executed notebooks and wall times go to outputs/<run_name>/."""
    extra = [overlay] if overlay else []
    shared = load_params(paths.PARAMS / "study.yaml", *extra)
    per_model = {m: load_params(paths.PARAMS / f"{m}.yaml", *extra) for m in models}
    mismatched = [m for m, p in per_model.items() if p.run_name != shared.run_name]
    if mismatched:
        raise ParamsError(f"params for {mismatched} write to another run_name than {shared.run_name!r}")
    folder = paths.run_dir(shared.run_name)
    timings = {step: run_notebook(step, shared, folder) for step in SHARED_STEPS}
    for model, params in per_model.items():
        for step in MODEL_STEPS:
            timings[f"{model}/{step}"] = run_notebook(step, params, paths.run_dir(shared.run_name, model))
    (folder / "timings.json").write_text(json.dumps(timings, indent=2))
    return timings
