"""What a run was made of: package and model versions, parameters, seeds, data hashes, wall times."""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

from nova_lab import paths
from nova_lab.caching import read_manifest
from nova_lab.models import MODELS

PACKAGES = ("torch", "transformers", "peft", "sentence-transformers", "lancedb", "botocore", "pandas", "scipy",
            "statsmodels", "seaborn", "papermill")


def _json(path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def collect(run_name: str, models: list[str]) -> dict[str, Any]:
    """Everything the run's own manifests say, gathered in one place for the analysis notebook."""
    folder = paths.outputs_root() / run_name
    adapters = {m: read_manifest(folder / m / "adapter") for m in models}
    return {
        "packages": {name: version(name) for name in PACKAGES},
        "models": {m: {"stands_for": MODELS[m].stands_for, "weights": MODELS[m].description} for m in models},
        "params": _json(folder / "params.json"),
        "data": read_manifest(folder / "data"),
        "knowledge_base": read_manifest(folder / "kb"),
        "fine_tuning": {m: {k: a.get(k) for k in ("key", "data", "hyperparameters", "steps", "validation_loss_before",
                                                  "validation_loss_after", "wall_time_s")} for m, a in adapters.items()},
        # this run's notebooks: a re-run that reuses cached answers and adapters is fast; the first
        # run's training time is in fine_tuning.wall_time_s
        "notebook_wall_time_s_this_run": _json(folder / "timings.json"),
    }
