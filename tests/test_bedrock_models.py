"""The models the Bedrock run names: today's judges by default, the study's pair by name."""

import pytest

from nova_lab.core import bedrock_models, paths
from nova_lab.core.params import BedrockSettings, ParamsError, load_params, parse
from nova_lab.costing import plan

BASE = {"bucket": "nova-lab-test-bucket", "role_arn": "arn:aws:iam::123456789012:role/NovaLabBedrock", "max_usd": 10}


def family(model_id: str) -> str:
    return bedrock_models.foundation_model(model_id).split(".")[0]


def test_default_judges_are_not_the_end_of_life_study_judge_and_are_two_families():
    settings = BedrockSettings(**BASE)
    assert bedrock_models.STUDY_CLAUDE not in settings.judge_models and bedrock_models.STUDY_CLAUDE != settings.qa_model
    assert len({family(judge) for judge in settings.judge_models}) == 2
    assert all(judge.startswith("us.") for judge in settings.judge_models)  # US cross-region profiles from us-east-1


def test_the_shipped_params_use_the_current_judges():
    settings = load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "bedrock.yaml").bedrock
    assert settings.judge_models == bedrock_models.JUDGE_PRESETS["current"] and settings.qa_model == bedrock_models.DEFAULT_QA_MODEL


def test_the_study_pair_stays_selectable_by_name():
    settings = parse(BedrockSettings, {**BASE, "judge_models": "study"})
    assert settings.judge_models == [bedrock_models.STUDY_CLAUDE, bedrock_models.STUDY_LLAMA]
    with pytest.raises(ParamsError, match="one of the presets"):
        parse(BedrockSettings, {**BASE, "judge_models": "us.anthropic.claude-sonnet-4-6"})


def test_every_judge_of_either_preset_has_a_price_and_a_lifecycle_note():
    params = load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "bedrock.yaml")
    for preset in bedrock_models.JUDGE_PRESETS.values():
        with_preset = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={"judge_models": preset})})
        assert plan.build(with_preset, ["lite"]).total_usd > 0
        assert all(judge in bedrock_models.LIFECYCLE_NOTES for judge in preset)
