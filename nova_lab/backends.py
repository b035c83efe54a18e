"""Each notebook's work on the backend its parameters name: this machine (`local`) or Amazon Bedrock.

The notebooks call these and show what comes back; both backends return the same shapes and
write the same stores (answers, verdicts), so what follows in a notebook, and the analysis,
does not care where the models ran.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd

from nova_lab.bedrock import customization, steps
from nova_lab.bedrock.evaluation import ManagedEvaluation
from nova_lab.bedrock.judge import BedrockJudge
from nova_lab.bedrock.knowledge_base import search_modes
from nova_lab.bedrock.qa_generation import REPLY_COLUMNS, BedrockQAGenerator, DocumentPairWriter
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.runtime import BedrockRetriever
from nova_lab.bedrock.state import state_path
from nova_lab.bedrock.study_data import check_uploadable
from nova_lab.core import paths
from nova_lab.core.params import DataPrepParams, FineTuneParams, InferenceParams, JudgingParams, KnowledgeBaseParams
from nova_lab.core.records import RecordStore
from nova_lab.core.results import FineTuneResult
from nova_lab.core.study_steps import DATA_PREP, FINE_TUNE, INFERENCE, JUDGING, KB_BUILD
from nova_lab.data import data_prep
from nova_lab.judging import graded_set, verdicts
from nova_lab.judging.judges import Judge
from nova_lab.retrieval import kb_build
from nova_lab.retrieval.knowledge_base import MODES, CachedRetriever, Mode, Passage, Retriever


def prepare_data(cfg: DataPrepParams) -> data_prep.PreparedData:
    """Step 01 here; on Bedrock the Q&A pairs may come from an LLM, and the corpus and Nova files go to S3."""
    if cfg.backend == "local":
        return data_prep.prepare(cfg)
    own_folder = paths.PROJ_ROOT / cfg.documents if cfg.documents else None
    if own_folder:
        check_uploadable(own_folder)
    run = BedrockRun.open(cfg, DATA_PREP.name)
    generator = writer = None
    if cfg.qa_generator == "bedrock":
        store = RecordStore(state_path(cfg.run_name).with_name("qa_replies.jsonl"), REPLY_COLUMNS)
        client, model = run.clients.bedrock_runtime, cfg.bedrock.qa_model
        if cfg.documents:
            writer = DocumentPairWriter(client, model, store)
        else:
            generator = BedrockQAGenerator(client, model, data_prep.load_corpus(cfg.services).documents, store)
    prepared = data_prep.prepare(cfg, generator, writer)
    return dataclasses.replace(prepared, uploads=steps.data_prep(run, own_folder))


@dataclass(frozen=True)
class KnowledgeBase:
    build: dict[str, Any]  # what was built: the local manifest, or the Bedrock ids and ingestion statistics
    retriever: Retriever  # searches every time: what the retrieval table times
    modes: tuple[Mode, ...]  # the search modes this store has
    kept: CachedRetriever | None = None  # the same search with its results kept (the local store)

    @property
    def search_key(self) -> str | None:
        """What its results depend on, when they can be kept (the local store)."""
        return self.kept.kb_key if self.kept else None

    def top_passages(self, query: str, k: int) -> list[Passage]:
        """A query's top passages for people to read, from the kept results where there are any."""
        return (self.kept or self.retriever).retrieve(query, k)


def build_knowledge_base(cfg: KnowledgeBaseParams) -> KnowledgeBase:
    """Step 02: LanceDB here; a Bedrock knowledge base (S3 Vectors searches by vector only)."""
    if cfg.backend == "local":
        built = kb_build.build(cfg)
        kept = kb_build.open_kept(cfg.run_name, cfg.rrf_k)
        return KnowledgeBase(built, kept.retriever, MODES, kept)
    run = BedrockRun.open(cfg, KB_BUILD.name)
    built = steps.kb_build(run, cfg.chunk_tokens, cfg.chunk_overlap)
    return KnowledgeBase(built, BedrockRetriever(run.clients.agent_runtime, built["id"]), search_modes(cfg.bedrock))


def chunk_report(cfg: KnowledgeBaseParams) -> str:
    """Chunk lengths and one chunk as the model sees it; Bedrock keeps its chunks to itself."""
    if cfg.backend == "bedrock":
        return (f"Bedrock cut the chunks ({cfg.bedrock.chunking}, {cfg.chunk_tokens} tokens, {cfg.chunk_overlap} overlap); "
                f"the ingestion statistics are in the table above.")
    chunks = kb_build.read_chunks(cfg.run_name)
    lengths = chunks["text"].str.len().describe().round(0).to_string()
    return f"{lengths}\n\n{chunks['text'].iloc[len(chunks) // 2]}"


def fine_tune(cfg: FineTuneParams) -> FineTuneResult:
    """Step 03: LoRA here; on Bedrock a customization job, its model served, its loss curves read back."""
    if cfg.backend == "local":
        from nova_lab.tuning import finetune  # torch: imported by the steps that train or generate, not by 01 and 02

        return finetune.fine_tune(cfg)
    return customization.fine_tune(BedrockRun.open(cfg, FINE_TUNE.name), cfg)


def answer(cfg: InferenceParams, questions: pd.DataFrame) -> dict[str, Any]:
    """Step 04: the four configurations into the model's answer and latency stores; returns the progress."""
    if cfg.backend == "local":
        from nova_lab.answering import inference  # torch

        kept = kb_build.open_kept(cfg.run_name, cfg.rrf_k)
        return inference.run(cfg, questions, kept.retriever, stored=kept)
    return steps.inference(BedrockRun.open(cfg, INFERENCE.name), cfg, questions)


def second_opinions(cfg: JudgingParams) -> list[Judge]:
    """The judges of the graded set beside the panel: Bedrock Evaluations when `bedrock.evaluation_model` is set."""
    named = graded_set.second_opinions(cfg)
    if not named:
        return []
    return [ManagedEvaluation(BedrockRun.open(cfg, JUDGING.name), cfg.bedrock.evaluation_model)]


def judge_panel(cfg: JudgingParams) -> list[Judge]:
    """Step 05's panel: the offline judges here; on Bedrock the study's LLM judges (`bedrock.judge_models`)."""
    if cfg.backend == "local":
        return verdicts.panel(cfg.judges)
    run = BedrockRun.open(cfg, JUDGING.name)
    in_batch = run if cfg.bedrock.invocation == "batch" else None
    return [BedrockJudge(run.clients.bedrock_runtime, model_id, cfg.bedrock.concurrency, run=in_batch)
            for model_id in cfg.bedrock.judge_models]
