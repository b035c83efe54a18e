"""What a run was made of: package and model versions, parameters, seeds, data hashes, wall times."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from typing import Any

from nova_lab.core import artefacts, bedrock_models
from nova_lab.core.caching import read_manifest
from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.tuning.models import MODELS

PACKAGES = ("torch", "transformers", "peft", "sentence-transformers", "lancedb", "botocore", "pandas", "scipy",
            "statsmodels", "seaborn", "papermill")


PRIVATE_KEYS = {"bucket", "role_arn", "kms_key_arn", "profile"}  # settings that name an account's resources
_PRIVATE_TEXT = re.compile(r"arn:aws[\w-]*:|(?<!\d)\d{12}(?!\d)|AKIA[0-9A-Z]{16}")  # ARNs, account ids, access keys
REDACTED = "<redacted>"


def _json(path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def redact(value: Any, where: str = "") -> tuple[Any, list[str]]:
    """`value` with every setting that names an account (bucket, role ARN, account id, access key) replaced,
    and where each was: the rendered analysis is shared, the account is not."""
    if isinstance(value, dict):
        cleaned, found = {}, []
        for key, item in value.items():
            at = f"{where}.{key}" if where else str(key)
            if key in PRIVATE_KEYS and item:
                cleaned[key], more = REDACTED, [at]
            else:
                cleaned[key], more = redact(item, at)
            found += more
        return cleaned, found
    if isinstance(value, list):
        parts = [redact(item, f"{where}[{n}]") for n, item in enumerate(value)]
        return [p[0] for p in parts], [f for p in parts for f in p[1]]
    if isinstance(value, str) and _PRIVATE_TEXT.search(value):
        return REDACTED, [where]
    return value, []


def collect(run_name: str, models: list[str]) -> dict[str, Any]:
    """Everything the run's own manifests say, gathered in one place for the analysis notebook."""
    adapters = {m: read_manifest(artefacts.path(artefacts.ADAPTER, run_name, m)) for m in models}
    params = _json(artefacts.path(artefacts.PARAMS, run_name))
    on_bedrock = (params or {}).get("shared", {}).get("backend") == "bedrock"
    manifest, redacted = redact({
        "packages": {name: version(name) for name in PACKAGES},
        "models": {m: {"stands_for": STUDY_MODELS[m].converse_id,  # weights: what 03 trained on (a stand_in: counts)
                       "weights": f"{STUDY_MODELS[m].plays} on Amazon Bedrock" if on_bedrock
                       else (adapters[m] or {}).get("base_model", MODELS[m].description)}
                   for m in models},
        "params": params,
        "data": read_manifest(artefacts.path(artefacts.DATA, run_name)),
        "knowledge_base": read_manifest(artefacts.path(artefacts.KB, run_name)),
        "fine_tuning": {m: {k: a.get(k) for k in ("key", "data", "hyperparameters", "steps", "validation_loss_before",
                                                  "validation_loss_after", "wall_time_s")} for m, a in adapters.items()},
        # this run's notebooks: a re-run that reuses cached answers and adapters is fast; the first
        # run's training time is in fine_tuning.wall_time_s
        "notebook_wall_time_s_this_run": artefacts.read_record(artefacts.TIMINGS, run_name),
    })
    # the settings shown as <redacted>: they name the AWS account's resources
    return manifest | {"redacted_settings": redacted} | _judges(manifest["params"])


def _judges(params: dict[str, Any] | None) -> dict[str, Any]:
    """On Bedrock, which LLM judges scored the answers, and why they are not the study's."""
    shared = (params or {}).get("shared", {})
    if shared.get("backend") != "bedrock":
        return {}
    judges = shared["bedrock"]["judge_models"]
    differ = judges != bedrock_models.JUDGE_PRESETS["study"]
    return {"judge_models": judges, "models_checked": bedrock_models.CHECKED,
            **({"judges_note": bedrock_models.JUDGES_DIFFER_NOTE} if differ else {})}
