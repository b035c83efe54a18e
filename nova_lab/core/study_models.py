"""The model sizes the study compares, one row each: what the params allow, what the offline
stand-ins play, and what the Bedrock steps call, all read from here.

`micro` and `lite` are the study's two sizes, offline and on Bedrock. `nova2_lite` is today's
Nova (Amazon Nova 2 Lite, 2025-12-02), on Bedrock only: it has no offline stand-in. Its
customization job differs from Nova 1's: the AWS sample that fine-tunes it on Bedrock
(aws-samples/amazon-nova-samples, customization/Nova_2.0/bedrock/02-e2e-multimodal-sft/
03_finetune_on_bedrock.ipynb) sends epochCount and learningRate (and batchSize 1) and no
validation data, and AWS's fine-tuning sample config marks Nova 2 models `supports_validation:
False`. Checked 2026-11-30; `nova-lab preflight` asks Bedrock whether each id is ACTIVE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NOVA_1_HYPERPARAMETERS = ("epochCount", "learningRate", "learningRateWarmupSteps")  # Bedrock user guide, cm-hp-nova-mm
NOVA_2_HYPERPARAMETERS = ("epochCount", "learningRate")  # the AWS sample above; warmup is not among them


@dataclass(frozen=True)
class StudyModel:
    name: str  # as the params, the outputs tree and the CLI name it
    plays: str  # the Amazon Nova model, in words
    batch_quota_name: str  # as Service Quotas names it in the batch inference quotas (bedrock_models.BATCH_QUOTA_NAMES)
    converse_id: str  # Converse id (or inference profile) of the base model
    training_id: str  # the base model a customization job starts from
    hyperparameters: tuple[str, ...]  # the FineTuneParams a customization job takes, by Nova's API names
    job_takes_validation: bool  # whether the customization job is given the validation file
    offline: bool  # has an offline stand-in in nova_lab.tuning.models (runs with backend: local)
    min_training_records: int = 0  # the fewest its customization job takes, where the params' floor is not enough


STUDY_MODELS: dict[str, StudyModel] = {m.name: m for m in (
    StudyModel("micro", "Amazon Nova Micro", "Nova Micro V1", "amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0:128k",
               NOVA_1_HYPERPARAMETERS, True, True),
    StudyModel("lite", "Amazon Nova Lite", "Nova Lite V1", "amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0:300k",
               NOVA_1_HYPERPARAMETERS, True, True),
    StudyModel("nova2_lite", "Amazon Nova 2 Lite", "Nova 2 Lite", "us.amazon.nova-2-lite-v1:0", "amazon.nova-2-lite-v1:0:256k",
               NOVA_2_HYPERPARAMETERS, False, False, min_training_records=200),  # AWS's Nova dataset validator
)}

def short_of_training_records(models: list[str], records: int) -> dict[str, int]:
    """The models whose customization job needs more training records than `records`, with the least each takes."""
    return {m: STUDY_MODELS[m].min_training_records for m in models if records < STUDY_MODELS[m].min_training_records}


ModelName = Literal[tuple(STUDY_MODELS)]  # the params allow exactly the names above (a tuple subscript = each name)
OFFLINE_MODELS = tuple(name for name, model in STUDY_MODELS.items() if model.offline)
