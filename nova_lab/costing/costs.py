"""What an answer costs, what each configuration costs to own, and when fine-tuning pays for itself, at the
prices of the Nova model each model size plays on Bedrock.

Tokens are the run's own (offline, the stand-ins' tokenizers count them; on Bedrock, the service
does), priced with the dated table of `nova_lab.costing.pricing`, each price with its date and
source and marked when no second source confirmed it, at the route each answer is called through
(the base model's Converse id, or a fine-tuned model's in-Region deployment). Fine-tuning costs
once (its training tokens) and every month (the custom model's storage); on-demand serving bills
tokens at the base model's rate. It pays for itself at the number of answers a month at which the
tokens it saves against the configuration without it cover its monthly cost plus its training
spread over `AMORTIZE_MONTHS`. Owning a configuration costs more than its tokens (`ownership`): a
knowledge base is ingested once, stored every month and queried per answer (the question embedded, the
index searched); a fine-tuned model is trained once and stored every month, and served on demand (its
tokens at the base model's rate) or on provisioned throughput (by the hour). Every price is `nova-lab
plan`'s (nova_lab.costing.pricing), with its date and source.
"""

from __future__ import annotations

import math

import pandas as pd

from nova_lab.core.params import StudyParams
from nova_lab.core.results import uses_adapter, uses_rag
from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.core.vocabulary import WITHOUT_FINE_TUNING
from nova_lab.costing import pricing

AMORTIZE_MONTHS = 12
HOURS_A_MONTH = 730
VOLUMES = (1_000, 100_000, 10_000_000)  # answers a month at which 06 compares what each configuration costs to own


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


def break_even(own: pd.DataFrame) -> pd.DataFrame:
    """Per model and fine-tuned configuration: what it saves per 1,000 answers against the same configuration
    without fine-tuning, what it costs more a month (its storage, its training spread over AMORTIZE_MONTHS), and the
    answers a month from which the saving covers that."""
    costs = own.set_index(["model", "configuration"])
    rows = []
    for model in dict.fromkeys(own["model"]):
        for tuned, plain in WITHOUT_FINE_TUNING.items():
            if (model, tuned) not in costs.index or (model, plain) not in costs.index:
                continue
            a, b = costs.loc[(model, tuned)], costs.loc[(model, plain)]
            monthly = (a.monthly_usd + a.once_usd / AMORTIZE_MONTHS) - (b.monthly_usd + b.once_usd / AMORTIZE_MONTHS)
            saving = b.usd_per_1000_answers - a.usd_per_1000_answers
            rows.append({"model": model, "fine-tuned": tuned, "against": plain,
                         "saving_usd_per_1000_answers": saving, "fine_tuning_usd_per_month": monthly,
                         "answers_per_month_to_break_even": 1000 * monthly / saving if saving > 0 else math.inf})
    return pd.DataFrame(rows)


def prices_used(models: list[str], params: StudyParams | None = None) -> pd.DataFrame:
    """Every price the cost tables used, with its date and source, and whether a second source confirmed it: the
    models' tokens and training, the custom model's storage and, given the settings ownership was priced with,
    the knowledge base's (embedding, vector store, documents) and provisioned throughput's."""
    items = []
    for m in models:  # its answers' routes (the base model's, the fine-tuned one's when they differ), its training
        routes = dict.fromkeys(_served_as(m, configuration) for configuration in ("base", "ft"))
        items += [f"{route}/{kind}" for route in routes for kind in pricing.TOKEN_KINDS]
        items.append(f"{pricing.foundation_model(STUDY_MODELS[m].converse_id)}/training")
    items.append("custom-model/storage")
    if params is not None:
        store = (["s3-vectors/put", "s3-vectors/storage", "s3-vectors/query", "s3-vectors/query-data"]
                 if params.bedrock.vector_store == "s3_vectors" else ["opensearch-serverless/ocu-hour"])
        items += [f"{params.bedrock.embedding_model}/input", *store, "s3/storage", "provisioned-throughput/no-commitment"]
    rows = []
    for item in items:
        price = pricing.price(item)
        rows.append({"price": item, "usd": price.usd, "per": price.unit,
                     "source": price.source, "confirmed": "yes" if price.verified else "no (unconfirmed)"})
    return pd.DataFrame(rows).assign(table_date=pricing.AS_OF)


def owning_params(run_name: str) -> StudyParams:
    """The settings ownership is priced with: the run's corpus (services or your documents, chunk size) with its
    Bedrock section, or, for an offline run, params/bedrock.yaml's (the vector store and embedding model a Bedrock
    run would use)."""
    from nova_lab.core import artefacts, paths
    from nova_lab.core.params import load_params

    shared = (artefacts.read_record(artefacts.PARAMS, run_name) or {}).get("shared", {})  # none: a notebook run alone
    bedrock = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml")
    update = {key: shared[key] for key in ("services", "documents", "chunk_tokens") if key in shared}
    if shared.get("bedrock"):
        update["bedrock"] = bedrock.bedrock.model_validate(shared["bedrock"])
    return bedrock.model_copy(update=update)


def ownership(params: StudyParams, per_answer_costs: pd.DataFrame, tuning: pd.DataFrame,
              question_tokens: float) -> pd.DataFrame:
    """Per model and configuration, what it costs to own on Bedrock with `params`' settings (vector store, embedding
    model) and corpus: once (the knowledge base's ingestion, the fine-tuning job), every month (the vector index and
    the documents stored, the custom model's storage; provisioned throughput, if chosen, by the hour) and per 1,000
    answers (tokens; a RAG answer also embeds its question and queries the index)."""
    from nova_lab.costing import plan
    from nova_lab.data.data_prep import study_corpus

    settings = params.bedrock
    embedded = pricing.cost(f"{settings.embedding_model}/input",
                            study_corpus(params).stats()["words"] * plan.TOKENS_PER_WORD)
    documents = pricing.cost("s3/storage", plan.corpus_gb(params))
    if settings.vector_store == "s3_vectors":
        stored = plan.vector_gb(params)  # counts the corpus's chunks: once
        kb_once = embedded + pricing.cost("s3-vectors/put", stored)
        kb_month = pricing.cost("s3-vectors/storage", stored) + documents
    else:  # an OpenSearch Serverless collection: its OCUs run every hour of the month
        kb_once = embedded
        kb_month = pricing.cost("opensearch-serverless/ocu-hour", plan.COLLECTION_OCUS * HOURS_A_MONTH) + documents
    per_query = plan.query_cost(params, 1_000).usd + pricing.cost(f"{settings.embedding_model}/input", 1_000 * question_tokens)
    trained = tuning.set_index("model")
    rows = []
    for row in per_answer_costs.itertuples():
        rag, tuned = uses_rag(row.configuration), uses_adapter(row.configuration)
        training = trained.loc[row.model, "training_usd"] if tuned else 0.0
        rows.append({"model": row.model, "configuration": row.configuration,
                     "once_usd": (kb_once if rag else 0.0) + (training if math.isfinite(training) else 0.0),
                     "monthly_usd": (kb_month if rag else 0.0) + (trained.loc[row.model, "storage_usd_per_month"] if tuned else 0.0),
                     "usd_per_1000_answers": row.usd_per_1000_answers + (per_query if rag else 0.0),
                     "provisioned_usd_per_month": pricing.cost("provisioned-throughput/no-commitment", HOURS_A_MONTH)
                     if tuned else math.nan})
    return pd.DataFrame(rows)


def monthly_at(own: pd.DataFrame, volumes: tuple[int, ...] = VOLUMES) -> pd.DataFrame:
    """Per model and configuration, what a month costs at each volume of answers, on demand: the monthly costs,
    the one-off costs spread over AMORTIZE_MONTHS, and the answers; the cheapest per model and volume marked."""
    rows = []
    for row in own.itertuples():
        fixed = row.monthly_usd + row.once_usd / AMORTIZE_MONTHS
        rows += [{"model": row.model, "configuration": row.configuration, "answers_a_month": volume,
                  "usd_a_month": fixed + volume / 1000 * row.usd_per_1000_answers} for volume in volumes]
    frame = pd.DataFrame(rows)
    cheapest = frame.groupby(["model", "answers_a_month"])["usd_a_month"].transform("min")
    return frame.assign(cheapest=frame["usd_a_month"] == cheapest)
