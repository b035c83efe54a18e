"""A dated price table for estimating what a Bedrock run costs (us-east-1, USD).

The official pricing page renders its numbers in the browser, so each price names where it
was read and when; `verified` says whether two sources agreed. Re-check before a large run:
`nova-lab plan` prints the table's date and every unverified price it used.

A model is billed at the price of the route it is called through, so a price is looked up by the
id the run calls: a bare id (in-Region) or a `global.` profile bills the model's price below; a
geographic profile (`us.`, `eu.`, `apac.`) bills the same, except for the models that carry a
premium there (Claude Sonnet 4.5 and later, Nova 2 Lite), whose geographic price is derived from
the base price and marked unconfirmed unless a source gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nova_lab.core.bedrock_models import CLAUDE_SONNET_4_6, LLAMA_4_MAVERICK, PROFILE_PREFIXES, foundation_model
from nova_lab.core.params import ParamsError

AS_OF = "2026-09-01"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    verified: bool


PAGE = "aws.amazon.com/bedrock/pricing, transcribed 2025-07-20; AWS Price List API 2026-09-01"
PRICES: dict[str, Price] = {
    # on-demand tokens (per 1M): in-Region, or through a `global.` profile (a geographic one: see `price`)
    "amazon.nova-micro-v1:0/input": Price(0.035, "1M tokens", PAGE, True),
    "amazon.nova-micro-v1:0/output": Price(0.14, "1M tokens", PAGE, True),
    "amazon.nova-lite-v1:0/input": Price(0.06, "1M tokens", PAGE, True),
    "amazon.nova-lite-v1:0/output": Price(0.24, "1M tokens", PAGE, True),
    "amazon.nova-2-lite-v1:0/input": Price(0.30, "1M tokens", "Nova 2 launch pricing (2025-12), as remembered", False),
    "amazon.nova-2-lite-v1:0/output": Price(2.50, "1M tokens", "Nova 2 launch pricing (2025-12), as remembered", False),
    "anthropic.claude-3-5-sonnet-20240620-v1:0/input": Price(3.0, "1M tokens", "pricing page, transcribed 2025-07-20", False),
    "anthropic.claude-3-5-sonnet-20240620-v1:0/output": Price(15.0, "1M tokens", "pricing page, transcribed 2025-07-20", False),
    "meta.llama3-1-70b-instruct-v1:0/input": Price(0.72, "1M tokens", "pricing page, transcribed 2025-07-20", False),
    "meta.llama3-1-70b-instruct-v1:0/output": Price(0.72, "1M tokens", "pricing page, transcribed 2025-07-20", False),
    f"{foundation_model(CLAUDE_SONNET_4_6)}/input": Price(3.0, "1M tokens", "platform.claude.com model page, read 2026-11-26", False),
    f"{foundation_model(CLAUDE_SONNET_4_6)}/output": Price(15.0, "1M tokens", "platform.claude.com model page, read 2026-11-26", False),
    f"{foundation_model(LLAMA_4_MAVERICK)}/input": Price(0.24, "1M tokens", "Bedrock pricing page, as remembered", False),
    f"{foundation_model(LLAMA_4_MAVERICK)}/output": Price(0.97, "1M tokens", "Bedrock pricing page, as remembered", False),
    "amazon.titan-embed-text-v2:0/input": Price(0.02, "1M tokens", "pricing page crawl, undated", False),
    # customization: training tokens (per 1K, times epochs) and storage of a custom model (per month)
    "amazon.nova-micro-v1:0/training": Price(0.001, "1K tokens", "pricing page as remembered, not found in a stored copy", False),
    "amazon.nova-lite-v1:0/training": Price(0.002, "1K tokens", "pricing page as remembered, not found in a stored copy", False),
    "amazon.nova-2-lite-v1:0/training": Price(0.002, "1K tokens", "no source found: Nova Lite's rate stands in", False),
    "custom-model/storage": Price(1.95, "model-month", "pricing page rows of older models (2024-03-13)", False),
    # serving a custom model: on demand bills tokens at the base model's rate; provisioned throughput by the hour
    "provisioned-throughput/no-commitment": Price(60.50, "model-unit-hour", "AWS Price List API 2026-09-01", False),
    # S3 Vectors
    "s3-vectors/storage": Price(0.06, "GB-month", "aws.amazon.com/s3/pricing, read 2026-09-20", False),
    "s3-vectors/put": Price(0.20, "GB", "aws.amazon.com/s3/pricing, read 2026-09-20", False),
    "s3-vectors/query": Price(2.50, "1M queries", "aws.amazon.com/s3/pricing, read 2026-09-20", False),
    "s3-vectors/query-data": Price(0.004, "TB", "aws.amazon.com/s3/pricing (per TB of index a query processes), as remembered", False),
    "opensearch-serverless/ocu-hour": Price(0.24, "OCU-hour", "aws.amazon.com/opensearch-service/pricing, as remembered", False),
    "s3/storage": Price(0.023, "GB-month", "aws.amazon.com/s3/pricing (S3 Standard, first 50 TB)", False),
}
PER_UNIT = {"1M tokens": 1e6, "1K tokens": 1e3, "1M queries": 1e6, "GB": 1, "TB": 1, "GB-month": 1, "model-month": 1,
            "model-unit-hour": 1, "OCU-hour": 1}

GEOGRAPHIC_PROFILES = tuple(prefix for prefix in PROFILE_PREFIXES if prefix != "global.")
GEOGRAPHIC_PREMIUM = 1.10  # on input and output tokens
GEOGRAPHIC_PREMIUM_SOURCE = (  # "regional endpoints include a 10% pricing premium over global endpoints" (Anthropic);
    # global profiles of Claude Sonnet 4.5 save "approximately 10%" against geographic ones (AWS)
    "x1.1 on a geographic profile: platform.claude.com Claude on Amazon Bedrock and Bedrock user guide "
    "global-cross-region-inference, read 2026-12-06")
GEOGRAPHIC_PREMIUM_MODELS = {  # the models whose geographic profiles carry it, and what else says so
    foundation_model(CLAUDE_SONNET_4_6): "the 10% rule is the only source: no Bedrock price of the us. profile found",
    "amazon.nova-2-lite-v1:0": "agrees with AWS Price List API us-east-1 2026-09-01 as transcribed by "
                               "api-evangelist/amazon-nova ($0.33 and $2.75 per 1M tokens, route not named)",
}
TOKEN_KINDS = ("input", "output")


class UnknownPrice(ParamsError):
    """No price for a model id: the plan names it instead of guessing."""


def price(item: str) -> Price:
    """The price of `item` (`<model id>/<kind>`) through the route its model id names."""
    base_item = foundation_model(item)
    if base_item not in PRICES:
        raise UnknownPrice(f"no price for {base_item!r} in nova_lab/costing/pricing.py (as of {AS_OF}); add it there")
    base = PRICES[base_item]
    model, kind = base_item.rsplit("/", 1)
    if not (item.startswith(GEOGRAPHIC_PROFILES) and kind in TOKEN_KINDS and model in GEOGRAPHIC_PREMIUM_MODELS):
        return base
    return Price(round(base.usd * GEOGRAPHIC_PREMIUM, 6), base.unit,
                 f"{base.source}; {GEOGRAPHIC_PREMIUM_SOURCE}; {GEOGRAPHIC_PREMIUM_MODELS[model]}", False)


def served_as(converse_id: str, fine_tuned: bool) -> str:
    """The id an answer's tokens are priced at: the base model's through the route the run calls it by; a
    fine-tuned model's through its on-demand deployment, which runs in-Region at the foundation model's rate."""
    return foundation_model(converse_id) if fine_tuned else converse_id


BATCH_SHARE = 0.5  # a batch inference job's tokens, as a share of the on-demand price
BATCH_SOURCE = ("Bedrock pricing page: batch inference at 50% of on-demand for the models that offer it (FACTS.md); "
                "not checked per model")


def tokens_cost(model_id: str, tokens_in: float, tokens_out: float, batch: bool = False) -> float:
    """USD of input and output tokens of a model called as `model_id` (a profile bills at its route's price);
    `batch`: in a batch inference job, at BATCH_SHARE of it."""
    on_demand = cost(f"{model_id}/input", tokens_in) + cost(f"{model_id}/output", tokens_out)
    return on_demand * BATCH_SHARE if batch else on_demand


def cost(item: str, quantity: float) -> float:
    """USD for `quantity` in the unit's own terms (tokens, queries, GB, hours, ...)."""
    entry = price(item)
    return quantity / PER_UNIT[entry.unit] * entry.usd
