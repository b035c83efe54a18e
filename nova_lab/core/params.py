"""Study parameters, validated once, before any work.

Each notebook has a model of the parameters it reads; `StudyParams` is their union and is
what a params file must fit. A mistake (unknown key, wrong type, value out of range) stops
the run with one line per problem naming the key, the value and what is allowed.
"""

from __future__ import annotations

import ast
import difflib
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nova_lab.core.bedrock_models import DEFAULT_QA_MODEL, JUDGE_PRESETS
from nova_lab.core.study_models import OFFLINE_MODELS, STUDY_MODELS, ModelName, short_of_training_records
from nova_lab.core.study_steps import ANALYSIS, DATA_PREP, FINE_TUNE, INFERENCE, JUDGING, KB_BUILD
from nova_lab.core.vocabulary import JUDGE_NAMES, QA_GENERATOR_NAMES, STAND_IN_NAMES, Bf16Setting


class ParamsError(ValueError):
    """A params file or notebook parameter the study cannot run with."""


class ParamsWarning(UserWarning):
    """A setting the study can run with, but not as written (it was capped or adjusted)."""


@lru_cache(maxsize=1)
def available_services() -> tuple[str, ...]:
    import botocore.loaders

    return tuple(sorted(botocore.loaders.create_loader().list_available_services("service-2")))


SEED_MAX = 2**32 - 1  # numpy's seeds run from 0 to 2**32 - 1: a larger one passes here and fails in the step
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
PAPERMILL_HEADER = "# Parameters\n"  # how papermill's translator opens the cell it injects (tagged injected-parameters)


def _listed_once(names: list[str]) -> list[str]:
    """A name listed twice would do its work twice: a model's report rows, a judge's verdicts, a service's facts."""
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} {'is' if len(twice) == 1 else 'are'} listed more than once")
    return names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]) -> "_Strict":
        """Validate a notebook's parameters: the names this model knows, read from globals(), and what papermill
        injected that the study's params would refuse. `papermill -f` warns about an unknown key and runs on, and
        passes `extends` as a value: refused here, the notebook stops as `nova-lab run` would."""
        injected = _injected_names(namespace.get("In", []))
        if "extends" in injected:
            number = next(step for step, model in STEP_PARAMS.items() if model is cls)[:2]
            raise ParamsError(f"`extends` = {namespace['extends']!r}: papermill does not follow it; run "
                              f"`nova-lab run {number} --params <file>`, which does")
        unknown = injected - set(StudyParams.model_fields)  # another step's keys are this step's to ignore
        return parse(cls, {name: namespace[name] for name in (*cls.model_fields, *sorted(unknown)) if name in namespace})


def _injected_names(history: list[str]) -> set[str]:
    """The names papermill's last injected cell assigned, read from IPython's input history (`In`)."""
    cells = [source for source in history if source.startswith(PAPERMILL_HEADER)]
    if not cells:
        return set()
    return {target.id for node in ast.parse(cells[-1]).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


class WaitHours(_Strict):
    """How long a wait on each kind of resource may last, in hours, before the run stops and says where to look.
    The resource goes on in AWS past the limit: running the step again waits for the same one, nothing is lost."""

    vector_store: float = Field(0.5, gt=0, le=168, description="an OpenSearch Serverless collection (minutes)")
    knowledge_base: float = Field(0.5, gt=0, le=168, description="a knowledge base, created or updated (minutes)")
    data_source: float = Field(0.5, gt=0, le=168, description="a knowledge base's data source (seconds to minutes)")
    ingestion: float = Field(6, gt=0, le=168, description="an ingestion job: embedding the corpus (minutes to hours)")
    customization_job: float = Field(48, gt=0, le=168, description="a fine-tuning job: Nova jobs can run 10 h and more")
    deployment: float = Field(2, gt=0, le=168, description="an on-demand custom model deployment (about 30 min)")
    provisioned_throughput: float = Field(2, gt=0, le=168, description="a provisioned throughput (tens of minutes)")
    batch_job: float = Field(30, gt=0, le=168, description="a batch inference job: its queue, then up to its 24 h "
                                                          "timeout")
    evaluation_job: float = Field(24, gt=0, le=168, description="a Bedrock Evaluations job on the graded set (hours)")


class BedrockSettings(_Strict):
    """Where and how the study runs on Amazon Bedrock (`backend: bedrock`)."""

    region: Literal["us-east-1"] = Field(default="us-east-1", description="Nova fine-tuning runs only in us-east-1")
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="S3 bucket for corpus, data and outputs")
    role_arn: str = Field(pattern=r"^arn:aws(-[a-z]+)?:iam::\d{12}:role/.+$",
                          description="IAM role Bedrock assumes for customization and the knowledge base")
    study_tag: str = Field(default="nova-lab", description="lower-case letters, digits and single hyphens, at most 24 "
                                                           "characters, starting with a letter: every resource is named "
                                                           "from it and tagged nova-lab-study=<study_tag>")
    max_usd: float = Field(gt=0, description="a run whose estimated cost exceeds this refuses to start")
    allow_provisioned_throughput: bool = Field(
        default=False, description="serve custom models with provisioned throughput (billed by the hour) instead of on demand")
    serving_hours: float = Field(default=8, gt=0, le=720,
                                 description="hours hourly-billed resources stay up (provisioned throughput, OpenSearch)")
    vector_store: Literal["s3_vectors", "opensearch_serverless"] = "s3_vectors"
    chunking: Literal["FIXED_SIZE", "HIERARCHICAL", "SEMANTIC", "NONE"] = "FIXED_SIZE"
    embedding_model: str = "amazon.titan-embed-text-v2:0"
    judge_models: list[str] = Field(
        default=JUDGE_PRESETS["current"], min_length=2,
        description=f"Converse model ids or inference profiles of the LLM judges, or a preset name: "
                    f"{' or '.join(JUDGE_PRESETS)} (the paper's pair, Claude 3.5 Sonnet and Llama 3.1 70B)")
    qa_model: str = Field(default=DEFAULT_QA_MODEL,
                          description="Converse model id or inference profile that writes Q&A pairs (qa_generator: bedrock)")
    concurrency: int = Field(default=4, ge=1, le=64, description="Converse requests in flight at once")
    invocation: Literal["batch", "on_demand"] = Field(
        default="batch", description="batch: answers on base models and judge verdicts go through batch inference "
                                     "jobs (about half the price, their own quota; 100 records a job at least, fewer "
                                     "are asked on demand); on_demand: every request through Converse")
    evaluation_model: str | None = Field(
        default=None, description="opt-in second opinion: Amazon Bedrock Evaluations grades the graded set with the "
                                  "rubric as a custom metric, this model (an evaluator the user guide lists for custom "
                                  "metrics, e.g. a Claude Sonnet profile) as its judge; unset: none")
    wait_hours: WaitHours = Field(default_factory=WaitHours,
                                  description="how long each wait on a resource may last before the run stops")
    recording: Literal["off", "record", "replay"] = Field(
        default="off", description="record every AWS response to outputs/<run_name>/bedrock/recording.jsonl, "
                                   "or replay them from it with no account and no network")

    @field_validator("judge_models", mode="before")
    @classmethod
    def _judge_preset(cls, value: Any) -> Any:
        """A preset name stands for its pair of ids; any other single string is an error, not one judge."""
        if isinstance(value, str):
            if value not in JUDGE_PRESETS:
                raise ValueError(f"a list of model ids, or one of the presets {sorted(JUDGE_PRESETS)}")
            return JUDGE_PRESETS[value]
        return value

    @field_validator("study_tag")
    @classmethod
    def _tag_in_words(cls, tag: str) -> str:
        """Said in words, not as the regex a pattern constraint would print."""
        if not re.fullmatch(r"[a-z](-?[a-z0-9]){0,23}", tag):
            raise ValueError(cls.model_fields["study_tag"].description.split(":")[0])
        return tag

    @field_validator("recording", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML reads an unquoted `off` as false


MODEL_HELP = "; ".join(f"{m.name} plays {m.plays}" + ("" if m.offline else " (Bedrock only)") for m in STUDY_MODELS.values())
BF16_HELP = "bfloat16 autocast: auto measures once whether it pays on this CPU; true/false force it"


class CommonParams(_Strict):
    run_name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="artefacts go to outputs/<run_name>/")
    backend: Literal["local", "bedrock"] = Field(description="`local` runs offline here; `bedrock` on Amazon Bedrock")
    bedrock: BedrockSettings | None = Field(default=None, description="required with backend: bedrock")

    @model_validator(mode="after")
    def _bedrock_settings(self) -> "CommonParams":
        if self.backend == "bedrock" and self.bedrock is None:
            raise ValueError("backend = 'bedrock' needs a `bedrock:` section (bucket, role_arn, max_usd; see params/bedrock.yaml)")
        named = [getattr(self, "model", None), *getattr(self, "models", [])]
        bedrock_only = sorted({m for m in named if m is not None and not STUDY_MODELS[m].offline})
        if self.backend == "local" and bedrock_only:
            raise ValueError(f"model {', '.join(bedrock_only)} has no offline stand-in: run it with backend: bedrock "
                             f"(offline, the models are {', '.join(OFFLINE_MODELS)})")
        return self


Models = Annotated[list[ModelName], AfterValidator(_listed_once), Field(
    min_length=1, description="the model sizes to compare (01 checks the training set against each one's rules)")]


class DataPrepParams(CommonParams):
    models: Models = Field(default_factory=lambda: list(OFFLINE_MODELS))
    seed: Seed
    services: Annotated[list[str], AfterValidator(_listed_once)] = Field(
        min_length=1, description="botocore service names for the corpus")
    qa_generator: Literal[(*QA_GENERATOR_NAMES, "bedrock")] = Field(  # the registered generators, and the LLM's on Bedrock
        description="`template` writes Q&A pairs from the facts; `bedrock` has an LLM write them (bedrock.qa_model)")
    n_train: int = Field(ge=8, le=20_000, description="training pairs (Nova accepts 8-20,000)")
    train_phrasings_per_fact: int = Field(ge=1, le=2, description="training phrasings of each taught fact")
    n_validation: int = Field(ge=8, description="validation questions (a Nova validation file takes 8 or more)")
    n_test: int = Field(ge=2, description="answerable test questions, half seen in training, half unseen")
    n_probes: int = Field(0, ge=0, description="unanswerable test questions (probes of fabrication), beside n_test")
    documents: str | None = Field(None, description="a folder of your own documents (Markdown, text, HTML, PDF) "
                                  "as the corpus, instead of botocore's; relative to the project folder")
    questions: str | None = Field(None, description="your Q&A pairs for `documents` (.csv or .jsonl; see "
                                  "nova_lab/data/questions.py for the columns)")

    @model_validator(mode="after")
    def _generator_on_its_backend(self) -> "DataPrepParams":
        if self.qa_generator == "bedrock" and self.backend != "bedrock":
            raise ValueError("qa_generator = 'bedrock' needs backend = 'bedrock' (the LLM is called through Converse)")
        return self

    @model_validator(mode="after")
    def _own_documents_with_their_questions(self) -> "DataPrepParams":
        if self.questions and not self.documents:
            raise ValueError(f"questions = {self.questions!r} needs `documents`: the folder their answers come from")
        if self.documents and not self.questions and self.qa_generator != "bedrock":
            raise ValueError(f"documents = {self.documents!r} needs `questions`, a .csv or .jsonl of your Q&A pairs: "
                             "offline no model here is fit to write them; on Bedrock, qa_generator: bedrock has "
                             "bedrock.qa_model write them from your documents")
        return self

    @field_validator("services")
    @classmethod
    def _known_services(cls, services: list[str]) -> list[str]:
        known = available_services()
        unknown = [name for name in services if name not in known]
        if unknown:
            hints = "; ".join(_did_you_mean(name, known, "run `nova-lab services` to list them") for name in unknown)
            raise ValueError(f"unknown botocore service(s) {unknown} ({hints})")
        return services


class KnowledgeBaseParams(CommonParams):
    chunk_tokens: int = Field(ge=32, le=256, description="tokens per chunk (MiniLM reads at most 256)")
    chunk_overlap: int = Field(ge=0, description="tokens shared by consecutive chunks")
    embedding_batch_size: int = Field(ge=1, le=1024)
    rrf_k: int = Field(ge=1, description="reciprocal rank fusion constant")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> "KnowledgeBaseParams":
        if self.chunk_overlap >= self.chunk_tokens // 2:
            raise ValueError(
                f"chunk_overlap = {self.chunk_overlap} must be less than half of chunk_tokens = {self.chunk_tokens}"
            )
        return self


class RepeatsParams(CommonParams):
    finetune_repeats: int = Field(1, ge=1, le=5, description="adapters trained with seeds seed, seed+1, ...: 06 "
                                                             "reports the spread of the fine-tuned configurations")
    stand_in: Literal[STAND_IN_NAMES] | None = Field(
        None, description="offline: another stand-in by name for this model (nova_lab.tuning.models.STAND_INS), e.g. "
                          "gemma3_270m, Lite's before 2026-12-06; none: the model's own (models.MODELS)")

    @property
    def local_model(self) -> str:
        """The name of the stand-in that plays `model` offline (models.spec takes either kind of name)."""
        return self.stand_in or self.model

    @model_validator(mode="after")
    def _repeats_offline(self) -> "RepeatsParams":
        if self.finetune_repeats > 1 and self.backend == "bedrock":
            raise ValueError(f"finetune_repeats = {self.finetune_repeats} is offline only: on Bedrock each repeat "
                             "would be a customization job and a served custom model; use 1")
        if self.stand_in is not None and self.backend == "bedrock":
            raise ValueError(f"stand_in = {self.stand_in!r} is offline only: on Bedrock the model is Nova itself")
        return self


class FineTuneParams(RepeatsParams):
    """Nova's hyperparameters by their API names and bounds; LoRA settings are ours."""

    model: ModelName = Field(description=MODEL_HELP)
    seed: Seed
    epochCount: int = Field(ge=1, le=5, description="Nova allows 1-5 epochs")
    learningRate: float = Field(ge=1e-6, le=1e-4, description="Nova allows 1e-6 to 1e-4")
    learningRateWarmupSteps: int = Field(ge=0, le=100, description="Nova allows 0-100 warmup steps")
    batchSize: int = Field(ge=1, le=64, description="examples per step here; Bedrock fixes Nova's at 1")
    lora_r: int = Field(ge=1, le=256)
    lora_alpha: int = Field(ge=1, le=1024)
    lora_dropout: float = Field(ge=0.0, le=0.5)
    lora_target_modules: list[str] = Field(min_length=1, description="linear layers that get LoRA adapters")
    eval_every_steps: int = Field(ge=1, description="validation loss and a checkpoint every this many steps")
    max_seq_tokens: int = Field(ge=32, le=4096, description="training examples are cut to this length")
    bf16: Bf16Setting = Field(description=BF16_HELP)

    @model_validator(mode="after")
    def _repeat_seeds_in_range(self) -> "FineTuneParams":
        """Repeat r trains with seed + r: the last one must be a seed numpy takes too."""
        last = self.seed + self.finetune_repeats - 1
        if last > SEED_MAX:
            raise ValueError(f"seed = {self.seed} with finetune_repeats = {self.finetune_repeats} trains the last "
                             f"adapter with seed {last}, past numpy's {SEED_MAX}: use a seed of at most "
                             f"{SEED_MAX - self.finetune_repeats + 1}")
        return self


class InferenceParams(RepeatsParams):
    model: ModelName = Field(description=MODEL_HELP)
    seed: Seed
    rag_top_k: int = Field(ge=1, le=20, description="passages put into a RAG prompt")
    rrf_k: int = Field(ge=1, description="reciprocal rank fusion constant of hybrid search")
    max_new_tokens: int = Field(ge=1, le=1024)
    batch_size: int = Field(ge=1, le=256, description="prompts per batched generate call")
    latency_sample: int = Field(ge=0, description="questions per configuration timed one at a time")
    bf16: Bf16Setting = Field(description=BF16_HELP + " (batched answers and the timed single requests alike)")


Grades = Annotated[str | None, Field(description=(
    "a graded set of your own reviewers' grades (.jsonl in nova_lab/judging/graded_set.py's format, made with its "
    "`sheet` and `add --set` commands), relative to the project folder; none: the package's, on the built-in study"))]


class JudgingParams(CommonParams):
    model: ModelName = Field(description=MODEL_HELP)
    grades: Grades = None
    judges: Annotated[list[Literal[JUDGE_NAMES]], AfterValidator(_listed_once)] = Field(  # the registered judges
        min_length=2, description="the panel: at least two judges of different kinds")
    meta_eval_questions: int = Field(ge=2, description="test questions whose references make the judges' check set")


class AnalysisParams(CommonParams):
    models: Models
    grades: Grades = None
    seed: Seed
    bootstrap_resamples: int = Field(ge=100, le=100_000, description="paired bootstrap resamples per interval")


class StudyParams(DataPrepParams, KnowledgeBaseParams, FineTuneParams, InferenceParams, JudgingParams, AnalysisParams):
    model: ModelName | None = Field(default=None, description="which Nova size a per-model step runs")

    @property
    def sizes(self) -> list[str]:
        """The Nova sizes these params run: the one a per-model step's params name, or the study's list."""
        return [self.model] if self.model else list(self.models)

    @model_validator(mode="after")
    def _enough_training_records(self) -> "StudyParams":
        """Step 01 writes one training record per training pair (n_train); a model whose job needs more is refused
        here, before anything is queued, not by Bedrock after the upload and the knowledge base."""
        if self.questions:  # your file's training pairs, not n_train: 01 checks them (questions.check_sizes)
            return self
        short = short_of_training_records([m for m in (self.model, *self.models) if m is not None], self.n_train)
        if short:
            needs = ", ".join(f"{m} needs at least {least}" for m, least in short.items())
            raise ValueError(f"n_train = {self.n_train} training records, but {needs} (AWS's Nova dataset validator): "
                             f"set n_train to at least {max(short.values())}, or leave out {', '.join(short)}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _latency_sample_within_test_set(cls, data: Any) -> Any:
        """Only n_test questions exist to time: a larger sample is capped, and the user told so."""
        sample, n_test = (data.get("latency_sample"), data.get("n_test")) if isinstance(data, dict) else (None, None)
        if isinstance(sample, int) and isinstance(n_test, int) and sample > n_test >= 0:
            warnings.warn(f"latency_sample = {sample} is larger than n_test = {n_test}: {n_test} questions are timed",
                          ParamsWarning, stacklevel=2)
            data = {**data, "latency_sample": n_test}
        return data


STEP_PARAMS: dict[str, type[_Strict]] = {
    DATA_PREP.name: DataPrepParams,
    KB_BUILD.name: KnowledgeBaseParams,
    FINE_TUNE.name: FineTuneParams,
    INFERENCE.name: InferenceParams,
    JUDGING.name: JudgingParams,
    ANALYSIS.name: AnalysisParams,
}


def _did_you_mean(name: str, choices: tuple[str, ...] | list[str], otherwise: str = "no such key") -> str:
    close = difflib.get_close_matches(name, choices, n=3)
    return f"did you mean {', '.join(close)}?" if close else otherwise


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names of the (possibly nested) model that `loc` points into."""
    for part in loc[:-1]:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        nested = [a for a in (get_args(annotation) or (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _describe(model: type[BaseModel], error: dict[str, Any], data: Mapping[str, Any]) -> str:
    loc = error["loc"]
    key = ".".join(str(part) for part in loc) or "(parameters)"
    if error["type"] == "extra_forbidden":
        return f"unknown key `{key}` = {error['input']!r}; {_did_you_mean(str(loc[-1]), _fields_at(model, loc))}"
    if error["type"] == "missing":
        fields = model.model_fields if len(loc) == 1 else {}
        return f"missing key `{key}`: {getattr(fields.get(loc[0]), 'description', None) or 'required'}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error":  # a misspelt name: say which allowed one it is close to
        close = _did_you_mean(str(error["input"]), re.findall(r"'([^']*)'", error["ctx"]["expected"]), "")
        message += f"; {close}" if close else ""
    value = data.get(loc[0], error["input"]) if len(loc) == 1 else error["input"]
    shown = f" = {value!r}" if loc else ""
    return f"`{key}`{shown}: {message}"


def parse(model: type[_Strict], data: Mapping[str, Any], source: str = "parameters") -> Any:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        lines = [_describe(model, error, data) for error in exc.errors()]
        raise ParamsError(f"{source}: {len(lines)} problem(s)\n  - " + "\n  - ".join(lines)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is refused: plain YAML
    keeps the last one silently, so a user who edits the first would see no effect."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key `{key}` is given twice (lines {seen[key]} and {key_node.start_mark.line + 1}): "
                                f"keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A params file, with the file it `extends` (relative to it) read first and overlaid."""
    path = path.resolve()
    if path in seen:
        raise ParamsError(f"{path}: `extends` makes a cycle")
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not a text file (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                          f"a params file is UTF-8 YAML") from None
    except yaml.constructor.ConstructorError as exc:
        raise ParamsError(f"{path}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of key: value, got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise ParamsError(f"{path}: `extends` = {parent!r}: one params file (relative to this one), not "
                          f"{'a ' + type(parent).__name__ if parent else 'an empty name'}")
    return _overlay(_read_yaml(path.parent / parent, seen + (path,)), data)


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`; a section (such as `bedrock:`) is overlaid key by key, not replaced."""
    merged = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _overlay(base[key], value) if both else value
    return merged


def load_params(*paths: str | Path) -> StudyParams:
    """Read params files in order (later ones override earlier ones) and validate the result."""
    merged: dict[str, Any] = {}
    for path in paths:
        if not str(path).strip():  # Path("") is the current folder: an unset shell variable would read as no file
            raise ParamsError("an empty params file name (an unset shell variable?): name a file, or leave the option out")
        merged = _overlay(merged, _read_yaml(Path(path)))
    return parse(StudyParams, merged, source=" + ".join(str(p) for p in paths))


def for_step(params: StudyParams, step: str) -> dict[str, Any]:
    """The subset of the parameters one notebook declares, to inject with papermill."""
    return params.model_dump(include=set(STEP_PARAMS[step].model_fields))
