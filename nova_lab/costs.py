"""What an answer costs, and when fine-tuning pays for itself, at the prices of the Nova model each
model size plays on Bedrock.

Tokens are the run's own (offline, the stand-ins' tokenizers count them; on Bedrock, the service
does), priced with the dated table of `nova_lab.bedrock.pricing`, each price with its date and
source and marked when no second source confirmed it, at the route each answer is called through
(the base model's Converse id, or a fine-tuned model's in-Region deployment). Fine-tuning costs
once (its training tokens) and every month (the custom model's storage); on-demand serving bills
tokens at the base model's rate. It pays for itself at the number of answers a month at which the
tokens it saves against the configuration without it cover its monthly cost plus its training
spread over `AMORTIZE_MONTHS`.
"""

from __future__ import annotations

import math

import pandas as pd

from nova_lab.bedrock import pricing
from nova_lab.results import uses_adapter
from nova_lab.study_models import STUDY_MODELS

AMORTIZE_MONTHS = 12
WITHOUT_FINE_TUNING = {"ft": "base", "ft_rag": "rag"}


def _served_as(model: str, configuration: str) -> str:
    return pricing.served_as(STUDY_MODELS[model].converse_id, uses_adapter(configuration))


def answer_usd(model: str, configuration: str, tokens_in: float, tokens_out: float) -> float:
    """USD of an answer on demand, at the prices of the Nova model `model` plays, through the route the
    configuration calls it by."""
    return pricing.tokens_cost(_served_as(model, configuration), tokens_in, tokens_out)


def each_answer(answers: pd.DataFrame) -> pd.Series:
    """USD of each answer (one row per answer, with its model, configuration and token counts)."""
    return pd.Series([answer_usd(r.model, r.configuration, r.input_tokens, r.output_tokens) for r in answers.itertuples()],
                     index=answers.index, name="usd_per_answer")


def per_answer(answers: pd.DataFrame) -> pd.DataFrame:
    """Per model and configuration: mean input and output tokens, and USD per 1,000 answers."""
    rows = []
    for (model, configuration), part in answers.groupby(["model", "configuration"], sort=False):
        tokens_in, tokens_out = part["input_tokens"].mean(), part["output_tokens"].mean()
        usd = 1000 * answer_usd(model, configuration, tokens_in, tokens_out)
        rows.append({"model": model, "configuration": configuration, "priced as": STUDY_MODELS[model].plays,
                     "input tokens": tokens_in, "output tokens": tokens_out, "usd_per_1000_answers": usd})
    return pd.DataFrame(rows)


def fine_tuning(manifests: dict[str, dict]) -> pd.DataFrame:
    """Per model: the one-off training cost (the tokens the run trained on) and the monthly storage."""
    rows = []
    for model, manifest in manifests.items():
        tokens = manifest.get("tokens_seen")
        training = pricing.cost(f"{STUDY_MODELS[model].converse_id}/training", tokens) if tokens else math.nan
        rows.append({"model": model, "training tokens": tokens, "training_usd": training,
                     "storage_usd_per_month": pricing.cost("custom-model/storage", 1)})
    return pd.DataFrame(rows)


def break_even(per_answer_costs: pd.DataFrame, tuning: pd.DataFrame) -> pd.DataFrame:
    """Per model and fine-tuned configuration: what it saves per 1,000 answers against the same configuration
    without fine-tuning, and the answers a month from which that saving covers fine-tuning's monthly cost."""
    usd = per_answer_costs.set_index(["model", "configuration"])["usd_per_1000_answers"]
    rows = []
    for row in tuning.itertuples():
        monthly = row.storage_usd_per_month + (row.training_usd / AMORTIZE_MONTHS if math.isfinite(row.training_usd) else 0)
        for tuned, plain in WITHOUT_FINE_TUNING.items():
            if (row.model, tuned) not in usd.index or (row.model, plain) not in usd.index:
                continue
            saving = usd[(row.model, plain)] - usd[(row.model, tuned)]
            rows.append({"model": row.model, "fine-tuned": tuned, "against": plain,
                         "saving_usd_per_1000_answers": saving, "fine_tuning_usd_per_month": monthly,
                         "answers_per_month_to_break_even": 1000 * monthly / saving if saving > 0 else math.inf})
    return pd.DataFrame(rows)


def prices_used(models: list[str]) -> pd.DataFrame:
    """Every price the cost tables used, with its date and source, and whether a second source confirmed it."""
    items = []
    for m in models:  # its answers' routes (the base model's, the fine-tuned one's when they differ), its training
        routes = dict.fromkeys(_served_as(m, configuration) for configuration in ("base", "ft"))
        items += [f"{route}/{kind}" for route in routes for kind in pricing.TOKEN_KINDS]
        items.append(f"{pricing.foundation_model(STUDY_MODELS[m].converse_id)}/training")
    rows = []
    for item in [*items, "custom-model/storage"]:
        price = pricing.price(item)
        rows.append({"price": item, "usd": price.usd, "per": price.unit,
                     "source": price.source, "confirmed": "yes" if price.verified else "no (unconfirmed)"})
    return pd.DataFrame(rows).assign(table_date=pricing.AS_OF)
