"""Each notebook's work on the backend its parameters name: this machine (`local`) or Amazon Bedrock.

The notebooks call these and show what comes back; both backends return the same shapes and
write the same stores (answers, verdicts), so what follows in a notebook, and the analysis,
does not care where the models ran.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from nova_lab import data_prep, judging, kb_build
from nova_lab.bedrock import steps
from nova_lab.bedrock.knowledge_base import search_modes
from nova_lab.bedrock.qa_generation import REPLY_COLUMNS, BedrockQAGenerator
from nova_lab.bedrock.runtime import BedrockRetriever
from nova_lab.judges import BedrockJudge, Judge
from nova_lab.knowledge_base import MODES, Mode, Retriever
from nova_lab.params import CommonParams, DataPrepParams, FineTuneParams, InferenceParams, JudgingParams, KnowledgeBaseParams
from nova_lab.records import RecordStore
from nova_lab.results import FineTuneResult
from nova_lab.study_steps import DATA_PREP, FINE_TUNE, INFERENCE, JUDGING, KB_BUILD



def _clients(cfg: CommonParams, step: str) -> steps.Clients:
    model = getattr(cfg, "model", None)
    return steps.open_clients(cfg.bedrock, cfg.run_name, f"{step}/{model}" if model else step)


def _sleep(cfg: CommonParams) -> Callable[[float], None]:
    """Polls wait between requests; a replay has nothing to wait for and runs through the recorded states."""
    return (lambda seconds: None) if cfg.bedrock.recording == "replay" else time.sleep


def prepare_data(cfg: DataPrepParams) -> data_prep.PreparedData:
    """Step 01 here; on Bedrock the Q&A pairs may come from an LLM, and the corpus and Nova files go to S3."""
    if cfg.backend == "local":
        return data_prep.prepare(cfg)
    clients = _clients(cfg, DATA_PREP.name)
    generator = None
    if cfg.qa_generator == "bedrock":
        store = RecordStore(steps.state_path(cfg.run_name).with_name("qa_replies.jsonl"), REPLY_COLUMNS)
        generator = BedrockQAGenerator(clients.bedrock_runtime, cfg.bedrock.qa_model,
                                       data_prep.load_corpus(cfg.services).documents, store)
    prepared = data_prep.prepare(cfg, generator)
    return dataclasses.replace(prepared, uploads=steps.data_prep(clients, cfg.bedrock, cfg.run_name))


@dataclass(frozen=True)
class KnowledgeBase:
    build: dict[str, Any]  # what was built: the local manifest, or the Bedrock ids and ingestion statistics
    retriever: Retriever
    modes: tuple[Mode, ...]  # the search modes this store has


def build_knowledge_base(cfg: KnowledgeBaseParams) -> KnowledgeBase:
    """Step 02: LanceDB here; a Bedrock knowledge base (S3 Vectors searches by vector only)."""
    if cfg.backend == "local":
        return KnowledgeBase(kb_build.build(cfg), kb_build.open_knowledge_base(cfg.run_name, cfg.rrf_k), MODES)
    clients = _clients(cfg, KB_BUILD.name)
    built = steps.kb_build(clients, cfg.bedrock, cfg.run_name, cfg.chunk_tokens, cfg.chunk_overlap, _sleep(cfg))
    return KnowledgeBase(built, BedrockRetriever(clients.agent_runtime, built["id"]), search_modes(cfg.bedrock))


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
        from nova_lab import finetune  # torch: imported by the steps that train or generate, not by 01 and 02

        return finetune.fine_tune(cfg)
    return steps.fine_tune(_clients(cfg, FINE_TUNE.name), cfg.bedrock, cfg, _sleep(cfg))


def answer(cfg: InferenceParams, questions: pd.DataFrame) -> dict[str, Any]:
    """Step 04: the four configurations into the model's answer and latency stores; returns the progress."""
    if cfg.backend == "local":
        from nova_lab import inference  # torch

        return inference.run(cfg, questions, kb_build.open_knowledge_base(cfg.run_name, cfg.rrf_k))
    return steps.inference(_clients(cfg, INFERENCE.name), cfg.bedrock, cfg, questions)


def judge_panel(cfg: JudgingParams) -> list[Judge]:
    """Step 05's panel: the offline judges here; on Bedrock the study's LLM judges (`bedrock.judge_models`)."""
    if cfg.backend == "local":
        return judging.panel(cfg.judges)
    client = _clients(cfg, JUDGING.name).bedrock_runtime
    return [BedrockJudge(client, model_id, cfg.bedrock.concurrency) for model_id in cfg.bedrock.judge_models]
