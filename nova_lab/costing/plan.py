"""What a Bedrock run would create and call, and what it would cost, worked out offline.

`nova-lab plan` needs no credentials and no network: the corpus comes from botocore's bundled
models, sizes from the params, prices from `pricing.py` at the route each model is called
through. Prompts are counted from the text the run sends (the system prompt, the question, the
RAG template, the judge's rubric), built for the planned study's own questions, at
`CHARS_PER_TOKEN` characters a token; what no text gives (reply lengths, customization hours)
stays an estimate. Every estimate is printed beside the plan; a run refuses to start above
`max_usd`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

from nova_lab.core.bedrock_models import BATCH_MIN_RECORDS, EMBEDDING_DIMENSIONS
from nova_lab.core.caching import fingerprint
from nova_lab.core.params import DataPrepParams, ParamsError, StudyParams, for_step
from nova_lab.core.results import CONFIGURATIONS, uses_adapter, uses_rag
from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.core.study_steps import DATA_PREP, FINE_TUNE, INFERENCE, JUDGING, KB_BUILD
from nova_lab.costing import pricing
from nova_lab.data import prompts
from nova_lab.data.corpus import Corpus
from nova_lab.data.data_prep import build_qa, from_folder, load_corpus, study_corpus
from nova_lab.data.documents import SECTION_CHARS, sections
from nova_lab.data.nova_format import SYSTEM_PROMPT
from nova_lab.data.qa import TemplateQAGenerator, answerable
from nova_lab.judging import graded_set, meta_eval
from nova_lab.judging.judges import Item, judge_prompt

TOKENS_PER_WORD = 1.3  # corpus text (the corpus statistics count words)
CHARS_PER_TOKEN = 4  # prompt text: the usual rule for English (the models' tokenizers are not available offline); a
# per-word rule under-counts prompts full of API names (all-MiniLM's WordPiece gives 4.2 on the judge prompts)
VECTOR_RECORD_BYTES = EMBEDDING_DIMENSIONS * 4 + 1024  # float32 vector + its text and metadata (~1 KB)
BYTES_PER_WORD = 7  # the corpus as plain text in S3
COLLECTION_OCUS = 2  # an OpenSearch Serverless vector collection's smallest size
CUSTOMIZATION_HOURS = 4  # one Nova customization job on a small data set, from submission to model (estimate)
JUDGE_REPLY_TOKENS = 60  # a JSON verdict with a one-sentence rationale (estimate)
EVALUATION_REPLY_TOKENS = 200  # Bedrock Evaluations' evaluator: an explanation, then its rating (estimate)
QA_PROMPT_TOKENS = 850  # instructions, the fact and up to 3,000 characters of its document (estimate)
QA_REPLY_TOKENS = 250  # four question/answer pairs as JSON (estimate)


class BudgetExceeded(ParamsError):
    """The estimated cost of a run is above its `max_usd`."""


@dataclass(frozen=True)
class Cost:
    """What some calls cost, the price items that made it, and the tokens of each model they call (by the id
    called), so one line can add the costs of calls to several models."""

    usd: float = 0.0
    prices: tuple[str, ...] = ()
    tokens: tuple[tuple[str, float], ...] = ()

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.usd + other.usd, self.prices + other.prices, self.tokens + other.tokens)


@dataclass(frozen=True)
class PlannedJob:
    """A batch inference job the run submits: one model's requests of one step (several lines may share it)."""

    name: str
    model_id: str  # the id the job runs on, as its quotas are named by


@dataclass(frozen=True)
class Line:
    notebook: str
    service: str
    call: str
    what: str
    count: int
    cost: Cost = Cost()
    job: PlannedJob | None = None  # the batch inference job its requests go into

    @property
    def usd(self) -> float:
        return self.cost.usd


@dataclass
class Plan:
    lines: list[Line] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def add(self, *args, **kwargs) -> None:
        self.lines.append(Line(*args, **kwargs))

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    def batch_jobs(self) -> dict[PlannedJob, int]:
        """Each batch inference job with the records it holds."""
        records: dict[PlannedJob, int] = {}
        for line in self.lines:
            if line.job is not None:
                records[line.job] = records.get(line.job, 0) + line.count
        return records

    @property
    def jobs(self) -> int:
        return len(self.batch_jobs())

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{"notebook": line.notebook, "service": line.service, "call": line.call, "what": line.what,
                              "count": line.count, "tokens": round(sum(n for _, n in line.cost.tokens)), "usd": line.usd}
                             for line in self.lines])

    def jobs_table(self) -> pd.DataFrame:
        return pd.DataFrame([{"batch job": job.name, "model": job.model_id, "records": records}
                             for job, records in self.batch_jobs().items()])

    def unverified_prices(self) -> list[str]:
        used = sorted({item for line in self.lines for item in line.cost.prices})
        return [f"{item}: ${pricing.price(item).usd} per {pricing.price(item).unit} ({pricing.price(item).source})"
                for item in used if not pricing.price(item).verified]


def tokens_by_model(plan: Plan) -> dict[str, float]:
    """Input plus output tokens the run plans for each model, by the id it calls (a fine-tuned model's deployment
    by its foundation model's id): what a tokens-per-day quota must hold."""
    totals: dict[str, float] = {}
    for line in plan.lines:
        for model_id, tokens in line.cost.tokens:
            totals[model_id] = totals.get(model_id, 0.0) + tokens
    return totals


def _calls(model_id: str, tokens_in: float, tokens_out: float, batch: bool = False) -> Cost:
    """Model calls through `model_id`, at the price of that route (`batch`: in a batch inference job, whose tokens
    draw on the batch quotas, not on the on-demand tokens per minute and per day)."""
    return Cost(pricing.tokens_cost(model_id, tokens_in, tokens_out, batch), (f"{model_id}/input", f"{model_id}/output"),
                () if batch else ((model_id, tokens_in + tokens_out),))


def in_batch(params: StudyParams, records: int) -> bool:
    """Whether `records` requests to one model in one step go through a batch job (bedrock/batch.py's rule)."""
    return params.bedrock.invocation == "batch" and records >= BATCH_MIN_RECORDS


def _route(batch: bool) -> tuple[str, str]:
    """The service and call a model request goes through."""
    return ("bedrock", "CreateModelInvocationJob") if batch else ("bedrock-runtime", "Converse")


def _routed(what: str, batch: bool) -> str:
    return f"{what} (batch job)" if batch else what


def _priced(item: str, quantity: float) -> Cost:
    return Cost(pricing.cost(item, quantity), (item,))


def text_tokens(text: str) -> float:
    """Tokens of prompt text by the plan's rule."""
    return len(text) / CHARS_PER_TOKEN


def _mean_tokens(texts: Iterable[str]) -> float:
    counts = [text_tokens(text) for text in texts]
    return sum(counts) / len(counts)


@dataclass(frozen=True)
class Prompts:
    """Input tokens of the run's requests, counted from the text it sends for the planned study's questions
    (phrased by the template generator: an LLM's are one sentence too)."""

    answer: float  # mean: Nova's system prompt and a test question
    rag: float  # mean: the same in the RAG template, with rag_top_k passages of chunk_tokens tokens
    training_record: float  # mean: system prompt, question and answer of a training record
    judge: float  # mean: the judge prompt of a test question, its reference and an answer of max_new_tokens tokens
    checks: tuple[int, float]  # the check set's answers of known rank: how many, and their judge prompts' tokens
    graded: tuple[int, float]  # the same for the committed blind-graded answers
    training: int  # training records (n_train, or your file's training pairs)
    answerable: int  # answerable test questions (n_test, or your file's)
    asked: int  # test questions answered: the answerable ones and the probes


def _judged(items: list[Item]) -> tuple[int, float]:
    return len(items), sum(text_tokens(judge_prompt(item)) for item in items)


_COUNTED: dict[str, Prompts] = {}  # count_prompts' answers in this process, by what they are counted from


def count_prompts(params: StudyParams) -> Prompts:
    """The prompts of the run these params describe, built as steps 01-05 build them: seconds of building the
    corpus and the Q&A set, so kept per process for the same settings (the `bedrock:` section, which chooses
    judges and resources, changes no prompt) and the same graded set."""
    graded = graded_set.source(params.grades)
    key = fingerprint(params.model_dump_json(exclude={"bedrock"}), graded.is_file() and graded.stat().st_mtime_ns)
    if key not in _COUNTED:
        _COUNTED[key] = _count_prompts(params)
    return _COUNTED[key]


def planned_qa(params: StudyParams) -> tuple[Corpus, pd.DataFrame]:
    """The corpus and the Q&A set whose prompts the plan counts: your documents and Q&A file as 01 reads them; or
    the built-in set from the templates, which also stands in for pairs an LLM has not written yet."""
    cfg = DataPrepParams(**for_step(params, DATA_PREP.name))
    if params.documents and params.questions:
        corpus, qa, _ = from_folder(cfg)
        return corpus, qa
    corpus = load_corpus(params.services)
    return corpus, build_qa(cfg, corpus, TemplateQAGenerator())


def _count_prompts(params: StudyParams) -> Prompts:
    corpus, qa = planned_qa(params)
    test, train = qa[qa["split"] == "test"], qa[qa["split"] == "train"]
    system = text_tokens(SYSTEM_PROMPT)
    passages = [""] * params.rag_top_k  # their text is counted as chunk_tokens each
    planned_answer = "x" * (CHARS_PER_TOKEN * params.max_new_tokens)  # max_new_tokens tokens by the same rule
    checks = meta_eval.check_set(qa, corpus.facts, params.meta_eval_questions)
    return Prompts(
        answer=system + _mean_tokens(prompts.user_message(q) for q in test["question"]),
        rag=system + _mean_tokens(prompts.user_message(q, passages) for q in test["question"])
        + params.rag_top_k * params.chunk_tokens,
        training_record=system + _mean_tokens(q + a for q, a in zip(train["question"], train["reference_answer"])),
        judge=_mean_tokens(judge_prompt(Item("", q, reference, (), planned_answer))
                           for q, reference in zip(test["question"], test["reference_answer"])),
        checks=_judged([Item("", r.question, r.reference, (), r.answer) for r in checks.itertuples()]),
        graded=_judged(graded_set.items(graded_set.read(graded_set.source(params.grades)))),
        training=len(train), answerable=len(answerable(test)), asked=len(test))


def assumptions(sizes: Prompts) -> list[str]:
    """What the plan estimates rather than reads, with the counts it read, to print beside it."""
    return [
        f"{TOKENS_PER_WORD} tokens per word of corpus text; chunk_tokens-token chunks, {EMBEDDING_DIMENSIONS}-d float32 vectors",
        f"prompts counted from the text the run sends for the planned questions, {CHARS_PER_TOKEN} characters a token: "
        f"{sizes.answer:.0f} tokens a question (Nova's system prompt + question), {sizes.rag:.0f} with RAG "
        f"(+ its template and rag_top_k x chunk_tokens); every answer runs to max_new_tokens",
        f"an OpenSearch collection bills from 02 to teardown: {CUSTOMIZATION_HOURS} h per customization job, then serving_hours",
        f"an S3 Vectors query processes the whole index (~{VECTOR_RECORD_BYTES:,} bytes a chunk)",
        f"training: {sizes.training_record:.0f} tokens a record (system prompt, question, answer), times epochCount",
        f"judging: {sizes.judge:.0f} tokens in per answer and judge (rubric, question, reference and an answer of "
        f"max_new_tokens; the check and graded sets' prompts from their own answers; the judge's one-line system "
        f"prompt not counted) and {JUDGE_REPLY_TOKENS} out",
        f"Q&A generation (qa_generator: bedrock): one call per fact, {QA_PROMPT_TOKENS} tokens in and {QA_REPLY_TOKENS} out; "
        f"from your documents, one per section, {QA_PROMPT_TOKENS} in and {2 * QA_REPLY_TOKENS} out (up to six pairs), "
        f"and the questions not yet written counted as long as the built-in study's",
        f"with invocation: batch, a step's requests to one model go through a batch job when there are "
        f"{BATCH_MIN_RECORDS} or more (base-model answers, verdicts), at {pricing.BATCH_SHARE:.0%} of the on-demand "
        f"price ({pricing.BATCH_SOURCE}), on the batch quotas; the records a job fails, asked again on demand, are "
        f"not counted",
        f"Bedrock Evaluations (bedrock.evaluation_model): the evaluator's tokens at its on-demand price, no fee for "
        f"the job (pricing page as quoted by others, not confirmed), {EVALUATION_REPLY_TOKENS} tokens out an answer",
        f"each model at the price of its route: a geographic profile (us.) of Claude Sonnet 4.5 and later or Nova 2 "
        f"Lite at x{pricing.GEOGRAPHIC_PREMIUM:g} the in-Region price, a global. one at it; a fine-tuned model's "
        f"on-demand deployment bills tokens at its foundation model's in-Region rate",
    ]


def chunks(params: StudyParams) -> int:
    """Chunks of the corpus as the data source cuts it: `chunk_tokens` each, at least one a document."""
    stats = study_corpus(params).stats()
    return int(stats["words"] * TOKENS_PER_WORD / params.chunk_tokens) + stats["documents"]


def vector_gb(params: StudyParams) -> float:
    """The knowledge base's vectors, with their text and metadata, as S3 Vectors stores and bills them."""
    return chunks(params) * VECTOR_RECORD_BYTES / 1e9


def corpus_gb(params: StudyParams) -> float:
    return study_corpus(params).stats()["words"] * BYTES_PER_WORD / 1e9


def query_cost(params: StudyParams, count: int) -> Cost:
    """Retrieve's cost: S3 Vectors bills each query and the index data it processes; an OpenSearch
    collection's OCU-hours already pay for them."""
    if params.bedrock.vector_store != "s3_vectors":
        return Cost()
    index_tb = chunks(params) * VECTOR_RECORD_BYTES / 1e12
    return _priced("s3-vectors/query", count) + _priced("s3-vectors/query-data", count * index_tb)


def collection_hours(params: StudyParams, models: list[str]) -> float:
    """How long the run holds an OpenSearch collection: made in 02, it lives through every
    customization job of 03 and the serving hours of 04-05, until teardown."""
    return CUSTOMIZATION_HOURS * len(models) + params.bedrock.serving_hours


def _shared_steps(plan: Plan, params: StudyParams, sizes: Prompts, models: list[str]) -> None:
    settings = params.bedrock
    corpus = study_corpus(params)
    stats = corpus.stats()
    corpus_tokens = stats["words"] * TOKENS_PER_WORD
    chunk_count = chunks(params)
    prefix = f"s3://{settings.bucket}/{settings.study_tag}"
    if params.qa_generator == "bedrock" and params.documents and not params.questions:
        calls = sum(len(sections(text, SECTION_CHARS)) for text in corpus.documents["text"])
        plan.add(DATA_PREP.name, "bedrock-runtime", "Converse", f"Q&A pairs by {settings.qa_model} from your "
                 f"documents, one call per section of up to {SECTION_CHARS:,} characters", calls,
                 _calls(settings.qa_model, calls * QA_PROMPT_TOKENS, calls * 2 * QA_REPLY_TOKENS))
    elif params.qa_generator == "bedrock" and not params.documents:
        facts = -(-params.n_train // params.train_phrasings_per_fact) + params.n_validation + params.n_test  # probes: templates
        plan.add(DATA_PREP.name, "bedrock-runtime", "Converse", f"Q&A pairs by {settings.qa_model}, one call per fact",
                 facts, _calls(settings.qa_model, facts * QA_PROMPT_TOKENS, facts * QA_REPLY_TOKENS))
    plan.add(DATA_PREP.name, "s3", "CreateBucket", f"{settings.bucket}, tagged (reused if it exists)", 1)
    plan.add(DATA_PREP.name, "s3", "PutObject", f"corpus documents -> {prefix}/corpus/", stats["documents"],
             _priced("s3/storage", corpus_gb(params)))
    plan.add(DATA_PREP.name, "s3", "PutObject", f"Nova JSONL -> {prefix}/data/{{train,validation}}.jsonl", 2)
    if settings.vector_store == "s3_vectors":
        stored = vector_gb(params)
        plan.add(KB_BUILD.name, "s3vectors", "CreateVectorBucket + CreateIndex", f"{EMBEDDING_DIMENSIONS}-d cosine index", 2,
                 _priced("s3-vectors/put", stored) + _priced("s3-vectors/storage", stored))
    else:
        hours = collection_hours(params, models)
        plan.add(KB_BUILD.name, "opensearchserverless", "CreateSecurityPolicy x2 + CreateAccessPolicy + CreateCollection",
                 f"vector search collection and its k-NN index, {COLLECTION_OCUS} OCUs for {hours:g} h (02 until "
                 "teardown)", 4, _priced("opensearch-serverless/ocu-hour", COLLECTION_OCUS * hours))
    plan.add(KB_BUILD.name, "bedrock-agent", "CreateKnowledgeBase + CreateDataSource",
             f"{settings.vector_store}, chunking {settings.chunking}, {settings.embedding_model}", 2)
    plan.add(KB_BUILD.name, "bedrock-agent", "StartIngestionJob", f"~{chunk_count:,} chunks embedded", 1,
             _priced(f"{settings.embedding_model}/input", corpus_tokens))
    plan.add(KB_BUILD.name, "bedrock-agent-runtime", "Retrieve", "retrieval metrics on the answerable test questions",
             sizes.answerable, query_cost(params, sizes.answerable))


def _model_steps(plan: Plan, params: StudyParams, sizes: Prompts, model: str) -> None:
    settings, model_id = params.bedrock, STUDY_MODELS[model].converse_id
    training_tokens = sizes.training * sizes.training_record * params.epochCount
    plan.add(FINE_TUNE.name, "bedrock", "CreateModelCustomizationJob",
             f"{STUDY_MODELS[model].training_id}, {sizes.training} records x {params.epochCount} epochs", 1,
             _priced(f"{model_id}/training", training_tokens) + _priced("custom-model/storage", 1))
    if settings.allow_provisioned_throughput:
        plan.add(FINE_TUNE.name, "bedrock", "CreateProvisionedModelThroughput",
                 f"1 model unit, no commitment, for {settings.serving_hours} h", 1,
                 _priced("provisioned-throughput/no-commitment", settings.serving_hours))
    else:
        plan.add(FINE_TUNE.name, "bedrock", "CreateCustomModelDeployment", "on demand: billed per token in 04", 1)

    def answers(configuration: str, count: int, batch: bool = False) -> Cost:
        tokens_in = sizes.rag if uses_rag(configuration) else sizes.answer
        return _calls(pricing.served_as(model_id, uses_adapter(configuration)), count * tokens_in,
                      count * params.max_new_tokens, batch)

    n = sizes.asked
    on_base = [c for c in CONFIGURATIONS if not uses_adapter(c)]  # one job holds both: the same model
    batched = in_batch(params, n * len(on_base))
    plan.add(INFERENCE.name, "bedrock-agent-runtime", "Retrieve", "top-k passages per test question", n,
             query_cost(params, n))
    for configuration in CONFIGURATIONS:
        batch = batched and configuration in on_base
        plan.add(INFERENCE.name, *_route(batch), _routed(f"{model} {configuration}", batch), n,
                 answers(configuration, n, batch), job=PlannedJob(f"{model} answers", model_id) if batch else None)
    timed = min(params.latency_sample, sizes.answerable)
    plan.add(INFERENCE.name, "bedrock-agent-runtime + bedrock-runtime", "Retrieve + Converse",
             f"{model} latency sample: {timed} questions x 4 configurations again, one request at a time", timed * 5,
             sum((answers(configuration, timed) for configuration in CONFIGURATIONS), query_cost(params, timed)))
    for judge in settings.judge_models:
        judged = n * len(CONFIGURATIONS)
        batch = in_batch(params, judged)
        plan.add(JUDGING.name, *_route(batch), _routed(f"judge {judge} on {model}'s answers", batch), judged,
                 _calls(judge, judged * sizes.judge, judged * JUDGE_REPLY_TOKENS, batch),
                 job=PlannedJob(f"{judge} on {model}", judge) if batch else None)


def build(params: StudyParams, models: list[str], scale: int = 1) -> Plan:
    """Every resource, job and request of the Bedrock run these params describe, with its cost; `scale`: with
    `scale` times the test questions (and probes), each asked as the planned ones are."""
    if params.bedrock is None:
        raise ParamsError("the plan needs a `bedrock:` section (see params/bedrock.yaml)")
    counted = count_prompts(params)
    sizes = dataclasses.replace(counted, asked=counted.asked * scale, answerable=counted.answerable * scale)
    plan = Plan(assumptions=assumptions(sizes))
    _shared_steps(plan, params, sizes, models)
    for model in models:
        _model_steps(plan, params, sizes, model)
    for judge in params.bedrock.judge_models:
        for (count, tokens_in), what in ((sizes.checks, "the check set of answers of known rank"),
                                         (sizes.graded, "the blind-graded answers")):
            batch = in_batch(params, count)
            plan.add(JUDGING.name, *_route(batch), _routed(f"judge {judge} on {what} (once for all models)", batch), count,
                     _calls(judge, tokens_in, count * JUDGE_REPLY_TOKENS, batch),
                     job=PlannedJob(f"{judge} on {what}", judge) if batch else None)
    evaluator = params.bedrock.evaluation_model
    if evaluator:
        count, tokens_in = sizes.graded
        plan.add(JUDGING.name, "bedrock", "CreateEvaluationJob", f"Bedrock Evaluations, {evaluator} on the blind-graded "
                 f"answers with the rubric as a custom metric (a second opinion; {-(-count // 1000)} job(s))", count,
                 _calls(evaluator, tokens_in, count * EVALUATION_REPLY_TOKENS))
    return plan


SCALE = 10  # the larger study the plan prices beside the planned one


def at_scale(params: StudyParams, models: list[str], scale: int = SCALE) -> pd.DataFrame:
    """The planned study and one with `scale` times its test questions, each on demand and with batch jobs: cost,
    batch jobs and their records, and the tokens drawn from the on-demand quotas by step."""
    rows = []
    for factor in (1, scale):
        for invocation in ("on_demand", "batch"):
            routed = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={"invocation": invocation})})
            built = build(routed, models, factor)
            table = built.table()
            batched = table["call"] == "CreateModelInvocationJob"
            rows.append({"test questions": count_prompts(params).answerable * factor, "invocation": invocation,
                         "usd": round(built.total_usd, 2), "batch jobs": built.jobs,
                         "records in batch jobs": int(table.loc[batched, "count"].sum()),
                         **{f"on-demand tokens, {step}": int(table.loc[table["notebook"] == step, "tokens"].sum())
                            for step in (INFERENCE.name, JUDGING.name)}})
    return pd.DataFrame(rows)


def check_budget(plan: Plan, max_usd: float) -> None:
    if plan.total_usd > max_usd:
        raise BudgetExceeded(f"the estimated cost ${plan.total_usd:,.2f} exceeds max_usd = {max_usd}: "
                             f"raise `bedrock.max_usd` or shrink the run (n_test, judge_models, ...)")
