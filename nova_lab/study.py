"""Run the study's notebooks with papermill, parameters validated before the first one starts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import papermill

from nova_lab import paths
from nova_lab.params import StudyParams, for_step, load_params

SHARED_STEPS = ("01_data_prep", "02_kb_build")


def run_notebook(step: str, params: StudyParams, executed_dir: Path) -> float:
    """Execute one notebook into `executed_dir`; returns its wall time in seconds."""
    started = time.perf_counter()
    papermill.execute_notebook(
        paths.NOTEBOOKS / f"{step}.ipynb", executed_dir / f"{step}.ipynb",
        parameters=for_step(params, step), cwd=str(paths.NOTEBOOKS), progress_bar=True,
    )
    return time.perf_counter() - started


def run_study(*params_files: str | Path) -> dict[str, float]:
    """Steps 01-02 once; executed notebooks and their wall times go to outputs/<run_name>/."""
    params = load_params(*params_files)
    executed_dir = paths.run_dir(params.run_name)
    timings = {}
    for step in SHARED_STEPS:
        print(f"nova-lab: running {step} -> {executed_dir / (step + '.ipynb')}", flush=True)
        timings[step] = round(run_notebook(step, params, executed_dir), 1)
    (executed_dir / "timings.json").write_text(json.dumps(timings, indent=2))
    return timings
