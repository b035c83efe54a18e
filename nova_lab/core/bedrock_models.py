"""The Bedrock models the study names, each id written once, with when and where it was checked.

Model ids go stale: the study's judge, Claude 3.5 Sonnet v1, went Legacy in 2025 and fails on
Bedrock since 2026-03-01. So the defaults below are today's models, the study's own pair stays
selectable by name (`judge_models: study`), and `nova-lab preflight` asks Bedrock, before any
billable call, whether each configured model is still ACTIVE.
"""

from __future__ import annotations

from nova_lab.core.study_models import STUDY_MODELS

CHECKED = "2026-11-26"
SOURCES = (
    "docs.aws.amazon.com/bedrock/latest/userguide/model-lifecycle.html (and model-lifecycle-legacy.html)",
    "platform.claude.com/docs/en/build-with-claude/claude-on-amazon-bedrock-legacy (Bedrock ids and profiles of Claude)",
    "Bedrock model cards; AWS GetFoundationModel `modelLifecycle.status` is the authority at run time (preflight)",
)

# The Nova models fine-tuned and asked are in nova_lab/core/study_models.py, one row per model size.

# Judges from two model families (a family does not grade itself more kindly than the other: PoLL,
# Verga et al. 2024), through US cross-region inference profiles (on-demand in us-east-1 only that way).
CLAUDE_SONNET_4_6 = "us.anthropic.claude-sonnet-4-6"
LLAMA_4_MAVERICK = "us.meta.llama4-maverick-17b-instruct-v1:0"
STUDY_CLAUDE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"  # EOL on Bedrock (calls fail since 2026-03-01)
STUDY_LLAMA = "us.meta.llama3-1-70b-instruct-v1:0"  # status unconfirmed; its 405B sibling went Legacy 2026-07-07

JUDGE_PRESETS: dict[str, list[str]] = {
    "current": [CLAUDE_SONNET_4_6, LLAMA_4_MAVERICK],
    "study": [STUDY_CLAUDE, STUDY_LLAMA],  # the paper's pair, for a like-for-like rerun while Bedrock still serves it
}
DEFAULT_QA_MODEL = CLAUDE_SONNET_4_6
# "Minimum number of records per batch inference job" (Service Quotas): 100 in the user guide's quota table read
# for batch inference; a model with fewer requests in a step is asked on demand (bedrock/batch.py).
BATCH_MIN_RECORDS = 100
EMBEDDING_DIMENSIONS = 1024  # Titan Text Embeddings V2 (the default embedding_model) gives 256, 512 or 1024

DISPLAY_NAMES = {  # as Bedrock's service quotas name them ("Cross-Region InvokeModel tokens per minute for <name>")
    CLAUDE_SONNET_4_6: "Claude Sonnet 4.6", LLAMA_4_MAVERICK: "Llama 4 Maverick",
    STUDY_CLAUDE: "Claude 3.5 Sonnet", STUDY_LLAMA: "Llama 3.1 70B",
    **{m.converse_id: m.plays for m in STUDY_MODELS.values()},  # "Amazon Nova Lite", ...
}

LIFECYCLE_NOTES = {
    CLAUDE_SONNET_4_6: "Anthropic Claude Sonnet 4.6, released 2026-02-17; Bedrock keeps a model >= 12 months "
                       "after launch (EOL no sooner than 2027-02-17); Anthropic's own API calls it legacy "
                       "(superseded by Sonnet 5.5), Bedrock's status is checked by preflight",
    LLAMA_4_MAVERICK: "Meta Llama 4 Maverick 17B Instruct, on Bedrock since 2025-04; Bedrock lifecycle status "
                      "not confirmed from a stored Bedrock page on the date checked: preflight checks it",
    STUDY_CLAUDE: "the study's judge: Legacy in 2025, extended access ended 2025-12-01, calls fail after 2026-03-01",
    STUDY_LLAMA: "the study's second judge: Bedrock status unconfirmed (Llama 3.1 405B went Legacy 2026-07-07)",
}

JUDGES_DIFFER_NOTE = (
    f"The LLM judges differ from the study's (Claude 3.5 Sonnet and Llama 3.1 70B): Claude 3.5 Sonnet "
    f"v1 has reached end of life on Amazon Bedrock, so this run uses two active judges of two families "
    f"(checked {CHECKED}); absolute scores are not comparable with the paper's, the differences "
    f"between configurations are what to compare."
)

# As Service Quotas names a model in its batch inference quotas ("Records per batch inference job for Nova Micro
# V1"): Nova Micro's and Lite's, Claude 3.5 Sonnet's and Llama 3.1 70B Instruct's read in a listing of Bedrock's
# quota names; the others (no batch quota of theirs in that listing) written as their on-demand quotas name them,
# so an unlisted one is reported "could not check" by preflight, never guessed at.
BATCH_QUOTA_NAMES = {
    CLAUDE_SONNET_4_6: "Claude Sonnet 4.6", LLAMA_4_MAVERICK: "Llama 4 Maverick",
    STUDY_CLAUDE: "Claude 3.5 Sonnet", STUDY_LLAMA: "Llama 3.1 70B Instruct",
    **{m.converse_id: m.batch_quota_name for m in STUDY_MODELS.values()},  # "Nova Micro V1", ...
}

PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.")  # cross-region inference profiles of a foundation model


def foundation_model(model_id: str) -> str:
    """The foundation model behind an id that may be a cross-region inference profile."""
    for prefix in PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id.removeprefix(prefix)
    return model_id


def third_party(model_id: str) -> bool:
    """Whether a model is sold through AWS Marketplace (Anthropic, Meta, ...): only Amazon's own are not."""
    return not foundation_model(model_id).startswith("amazon.")
