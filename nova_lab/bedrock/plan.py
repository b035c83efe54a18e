"""What a Bedrock run would create and call, and what it would cost, worked out offline.

`nova-lab plan` needs no credentials and no network: the corpus comes from botocore's bundled
models, sizes from the params, prices from `pricing.py`. Token counts are estimates with
their assumptions printed beside them; a run refuses to start above `max_usd`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from nova_lab import graded_set
from nova_lab.bedrock import pricing
from nova_lab.data_prep import load_corpus
from nova_lab.meta_eval import VARIANTS
from nova_lab.params import ParamsError, StudyParams
from nova_lab.study_models import STUDY_MODELS
from nova_lab.study_steps import DATA_PREP, FINE_TUNE, INFERENCE, JUDGING, KB_BUILD

TOKENS_PER_WORD = 1.3
EMBEDDING_DIMENSIONS = 1024  # Titan Text Embeddings v2
VECTOR_RECORD_BYTES = EMBEDDING_DIMENSIONS * 4 + 1024  # float32 vector + its text and metadata (~1 KB)
CUSTOMIZATION_HOURS = 4  # one Nova customization job on a small data set, from submission to model (estimate)
PROMPT_TOKENS = 60  # system prompt + question
TRAINING_RECORD_TOKENS = 80  # system + question + one-sentence answer
JUDGE_PROMPT_TOKENS = 330  # rubric, question, reference, answer
JUDGE_REPLY_TOKENS = 60
QA_PROMPT_TOKENS = 850  # instructions, the fact and up to 3,000 characters of its document
QA_REPLY_TOKENS = 250  # four question/answer pairs as JSON
META_EVAL_ANSWERS = len(VARIANTS)  # answers of known rank per check question
ASSUMPTIONS = [
    f"{TOKENS_PER_WORD} tokens per word of corpus text; chunk_tokens-token chunks, {EMBEDDING_DIMENSIONS}-d float32 vectors",
    f"prompts: {PROMPT_TOKENS} tokens + rag_top_k x chunk_tokens for RAG; every answer runs to max_new_tokens",
    f"an OpenSearch collection bills from 02 to teardown: {CUSTOMIZATION_HOURS} h per customization job, then serving_hours",
    f"an S3 Vectors query processes the whole index (~{VECTOR_RECORD_BYTES:,} bytes a chunk)",
    f"training: {TRAINING_RECORD_TOKENS} tokens a record, times epochCount",
    f"judging: {JUDGE_PROMPT_TOKENS} tokens in and {JUDGE_REPLY_TOKENS} out per answer and judge",
    f"Q&A generation (qa_generator: bedrock): one call per fact, {QA_PROMPT_TOKENS} tokens in and {QA_REPLY_TOKENS} out",
    "on-demand custom model deployments bill tokens at the base model's rate",
]


class BudgetExceeded(ParamsError):
    """The estimated cost of a run is above its `max_usd`."""


@dataclass(frozen=True)
class Line:
    notebook: str
    service: str
    call: str
    what: str
    count: int
    usd: float = 0.0
    prices: tuple[str, ...] = ()


@dataclass
class Plan:
    lines: list[Line] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=lambda: list(ASSUMPTIONS))

    def add(self, *args, **kwargs) -> None:
        self.lines.append(Line(*args, **kwargs))

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([vars(line) for line in self.lines]).drop(columns="prices")

    def unverified_prices(self) -> list[str]:
        used = sorted({item for line in self.lines for item in line.prices})
        return [f"{item}: ${pricing.price(item).usd} per {pricing.price(item).unit} ({pricing.price(item).source})"
                for item in used if not pricing.price(item).verified]


def _tokens_cost(model_id: str, tokens_in: float, tokens_out: float) -> tuple[float, tuple[str, ...]]:
    return pricing.tokens_cost(model_id, tokens_in, tokens_out), (f"{model_id}/input", f"{model_id}/output")


def _chunks(params: StudyParams) -> int:
    """Chunks of the corpus as the data source cuts it: `chunk_tokens` each, at least one a document."""
    stats = load_corpus(params.services).stats()
    return int(stats["words"] * TOKENS_PER_WORD / params.chunk_tokens) + stats["documents"]


def _queries(params: StudyParams, count: int) -> tuple[float, tuple[str, ...]]:
    """Retrieve's cost: S3 Vectors bills each query and the index data it processes; an OpenSearch
    collection's OCU-hours already pay for them."""
    if params.bedrock.vector_store != "s3_vectors":
        return 0.0, ()
    index_tb = _chunks(params) * VECTOR_RECORD_BYTES / 1e12
    return (pricing.cost("s3-vectors/query", count) + pricing.cost("s3-vectors/query-data", count * index_tb),
            ("s3-vectors/query", "s3-vectors/query-data"))


def collection_hours(params: StudyParams, models: list[str]) -> float:
    """How long the run holds an OpenSearch collection: made in 02, it lives through every
    customization job of 03 and the serving hours of 04-05, until teardown."""
    return CUSTOMIZATION_HOURS * len(models) + params.bedrock.serving_hours


def _shared_steps(plan: Plan, params: StudyParams, models: list[str]) -> None:
    settings = params.bedrock
    stats = load_corpus(params.services).stats()
    corpus_tokens = stats["words"] * TOKENS_PER_WORD
    chunks = _chunks(params)
    prefix = f"s3://{settings.bucket}/{settings.study_tag}"
    if params.qa_generator == "bedrock":
        facts = -(-params.n_train // params.train_phrasings_per_fact) + params.n_validation + params.n_test  # probes: templates
        usd, items = _tokens_cost(settings.qa_model, facts * QA_PROMPT_TOKENS, facts * QA_REPLY_TOKENS)
        plan.add(DATA_PREP.name, "bedrock-runtime", "Converse", f"Q&A pairs by {settings.qa_model}, one call per fact",
                 facts, usd, items)
    plan.add(DATA_PREP.name, "s3", "CreateBucket", f"{settings.bucket}, tagged (reused if it exists)", 1)
    plan.add(DATA_PREP.name, "s3", "PutObject", f"corpus documents -> {prefix}/corpus/", stats["documents"],
             pricing.cost("s3/storage", stats["words"] * 7 / 1e9), ("s3/storage",))
    plan.add(DATA_PREP.name, "s3", "PutObject", f"Nova JSONL -> {prefix}/data/{{train,validation}}.jsonl", 2)
    if settings.vector_store == "s3_vectors":
        vector_gb = chunks * EMBEDDING_DIMENSIONS * 4 / 1e9
        plan.add(KB_BUILD.name, "s3vectors", "CreateVectorBucket + CreateIndex", f"{EMBEDDING_DIMENSIONS}-d cosine index", 2,
                 pricing.cost("s3-vectors/put", vector_gb) + pricing.cost("s3-vectors/storage", vector_gb),
                 ("s3-vectors/put", "s3-vectors/storage"))
    else:
        hours = collection_hours(params, models)
        plan.add(KB_BUILD.name, "opensearchserverless", "CreateSecurityPolicy x2 + CreateAccessPolicy + CreateCollection",
                 f"vector search collection and its k-NN index, 2 OCUs for {hours:g} h (02 until teardown)", 4,
                 pricing.cost("opensearch-serverless/ocu-hour", 2 * hours),
                 ("opensearch-serverless/ocu-hour",))
    plan.add(KB_BUILD.name, "bedrock-agent", "CreateKnowledgeBase + CreateDataSource",
             f"{settings.vector_store}, chunking {settings.chunking}, {settings.embedding_model}", 2)
    plan.add(KB_BUILD.name, "bedrock-agent", "StartIngestionJob", f"~{chunks:,} chunks embedded", 1,
             pricing.cost(f"{settings.embedding_model}/input", corpus_tokens), (f"{settings.embedding_model}/input",))
    plan.add(KB_BUILD.name, "bedrock-agent-runtime", "Retrieve", "retrieval metrics on the answerable test questions",
             params.n_test, *_queries(params, params.n_test))


def _model_steps(plan: Plan, params: StudyParams, model: str) -> None:
    settings, model_id = params.bedrock, STUDY_MODELS[model].converse_id
    training_tokens = params.n_train * TRAINING_RECORD_TOKENS * params.epochCount
    plan.add(FINE_TUNE.name, "bedrock", "CreateModelCustomizationJob",
             f"{STUDY_MODELS[model].training_id}, {params.n_train} records x {params.epochCount} epochs", 1,
             pricing.cost(f"{model_id}/training", training_tokens) + pricing.cost("custom-model/storage", 1),
             (f"{model_id}/training", "custom-model/storage"))
    if settings.allow_provisioned_throughput:
        plan.add(FINE_TUNE.name, "bedrock", "CreateProvisionedModelThroughput",
                 f"1 model unit, no commitment, for {settings.serving_hours} h", 1,
                 pricing.cost("provisioned-throughput/no-commitment", settings.serving_hours),
                 ("provisioned-throughput/no-commitment",))
    else:
        plan.add(FINE_TUNE.name, "bedrock", "CreateCustomModelDeployment", "on demand: billed per token in 04", 1)
    rag_tokens = PROMPT_TOKENS + params.rag_top_k * params.chunk_tokens
    n = params.n_test + params.n_probes
    plan.add(INFERENCE.name, "bedrock-agent-runtime", "Retrieve", "top-k passages per test question", n,
             *_queries(params, n))
    for configuration, tokens_in in (("base", PROMPT_TOKENS), ("rag", rag_tokens), ("ft", PROMPT_TOKENS), ("ft_rag", rag_tokens)):
        usd, items = _tokens_cost(model_id, n * tokens_in, n * params.max_new_tokens)
        plan.add(INFERENCE.name, "bedrock-runtime", "Converse", f"{model} {configuration}", n, usd, items)
    timed = min(params.latency_sample, params.n_test)
    usd, items = _tokens_cost(model_id, timed * (2 * PROMPT_TOKENS + 2 * rag_tokens), timed * 4 * params.max_new_tokens)
    query_usd, query_items = _queries(params, timed)
    plan.add(INFERENCE.name, "bedrock-agent-runtime + bedrock-runtime", "Retrieve + Converse",
             f"{model} latency sample: {timed} questions x 4 configurations again, one request at a time",
             timed * 5, usd + query_usd, items + query_items)
    for judge in settings.judge_models:
        answers = n * 4
        usd, items = _tokens_cost(judge, answers * JUDGE_PROMPT_TOKENS, answers * JUDGE_REPLY_TOKENS)
        plan.add(JUDGING.name, "bedrock-runtime", "Converse", f"judge {judge} on {model}'s answers", answers, usd, items)


def build(params: StudyParams, models: list[str]) -> Plan:
    """Every resource, job and request of the Bedrock run these params describe, with its cost."""
    if params.bedrock is None:
        raise ParamsError("the plan needs a `bedrock:` section (see params/bedrock.yaml)")
    plan = Plan()
    _shared_steps(plan, params, models)
    for model in models:
        _model_steps(plan, params, model)
    checks = params.meta_eval_questions * META_EVAL_ANSWERS
    graded = len(graded_set.read())
    for judge in params.bedrock.judge_models:
        usd, items = _tokens_cost(judge, checks * JUDGE_PROMPT_TOKENS, checks * JUDGE_REPLY_TOKENS)
        plan.add(JUDGING.name, "bedrock-runtime", "Converse",
                 f"judge {judge} on the check set of answers of known rank (once for all models)", checks, usd, items)
        usd, items = _tokens_cost(judge, graded * JUDGE_PROMPT_TOKENS, graded * JUDGE_REPLY_TOKENS)
        plan.add(JUDGING.name, "bedrock-runtime", "Converse",
                 f"judge {judge} on the blind-graded answers (once for all models)", graded, usd, items)
    return plan


def check_budget(plan: Plan, max_usd: float) -> None:
    if plan.total_usd > max_usd:
        raise BudgetExceeded(f"the estimated cost ${plan.total_usd:,.2f} exceeds max_usd = {max_usd}: "
                             f"raise `bedrock.max_usd` or shrink the run (n_test, judge_models, ...)")
