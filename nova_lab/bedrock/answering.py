"""Step 04 on Bedrock: the four configurations through Retrieve and Converse, in the offline records.

Retrieve runs at most once per question in a pass, and only for answers not yet stored (RAG
configurations share its passages; the latency sample's pass asks again); each answer is one
Converse call on the base model or the custom model's deployment, so its latency is a single
request's, retrieval included for RAG, and tokens are Bedrock's own usage counts.
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd

from nova_lab.bedrock import runtime
from nova_lab.core.caching import fingerprint
from nova_lab.core.params import InferenceParams
from nova_lab.core.records import answer_record
from nova_lab.core.results import CONFIGURATIONS, uses_adapter, uses_rag
from nova_lab.data import prompts
from nova_lab.retrieval.knowledge_base import Passage


class Retrieval:
    """Passages per question, fetched on first use and shared by both RAG configurations."""

    def __init__(self, client: Any, knowledge_base_id: str, top_k: int, search_type: str | None = None):
        self.client, self.knowledge_base_id, self.top_k = client, knowledge_base_id, top_k
        self.search_type = search_type  # None: the store's default (S3 Vectors: by vector)
        self.found: dict[str, tuple[tuple[Passage, ...], float]] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.lock = threading.Lock()

    def get(self, question_id: str, question: str) -> tuple[tuple[Passage, ...], float]:
        with self.lock:
            question_lock = self.locks.setdefault(question_id, threading.Lock())
        with question_lock:  # one Retrieve per question even when both RAG answers ask at once
            if question_id not in self.found:
                passages, wall_ms = runtime.retrieve(self.client, self.knowledge_base_id, question, self.top_k,
                                                   self.search_type)
                self.found[question_id] = (tuple(passages), wall_ms)
            return self.found[question_id]


def jobs(bedrock_runtime: Any, retrieval: Retrieval, questions: pd.DataFrame, cfg: InferenceParams,
         model_ids: dict[str, str]) -> list[runtime.Job]:
    """One job per (question, configuration); `model_ids` maps "base" and "ft" to Converse model ids."""
    made = []
    for q in questions.itertuples():
        for configuration in CONFIGURATIONS:
            model_id = model_ids["ft" if uses_adapter(configuration) else "base"]
            context = (retrieval.knowledge_base_id, cfg.rag_top_k, retrieval.search_type) if uses_rag(configuration) else ()
            key = fingerprint("bedrock", model_id, configuration, q.id, q.question, context,
                              prompts.PROMPT_VERSION, cfg.max_new_tokens)
            made.append(runtime.Job(key, _answer(bedrock_runtime, retrieval, key, q, configuration, model_id, cfg)))
    return made


def _answer(client: Any, retrieval: Retrieval, key: str, question: Any, configuration: str, model_id: str,
            cfg: InferenceParams):
    def call() -> dict[str, Any]:
        passages, retrieval_ms = retrieval.get(question.id, question.question) if uses_rag(configuration) else ((), 0.0)
        reply = runtime.converse(client, model_id, prompts.user_message(question.question, [p.text for p in passages]),
                                 cfg.max_new_tokens)
        return answer_record(
            key=key, question_id=question.id, model=cfg.model, configuration=configuration, answer=reply.text,
            input_tokens=reply.input_tokens, output_tokens=reply.output_tokens,
            latency_ms=round(reply.wall_ms + retrieval_ms, 1), batch_size=1, stopped=reply.stop_reason == "end_turn",
            passages=passages, adapter_key=model_id if uses_adapter(configuration) else None,
            max_new_tokens=cfg.max_new_tokens, backend="bedrock", prompt_version=prompts.PROMPT_VERSION)
    return call


def answer_jobs(bedrock_runtime: Any, agent_runtime: Any, knowledge_base_id: str, questions: pd.DataFrame,
                cfg: InferenceParams, model_ids: dict[str, str], search_type: str | None = None) -> list[runtime.Job]:
    """Every answer of these questions as a job, its passages fetched once and shared by both RAG
    configurations; `runtime.run_jobs` asks those not yet stored."""
    retrieval = Retrieval(agent_runtime, knowledge_base_id, cfg.rag_top_k, search_type)
    return jobs(bedrock_runtime, retrieval, questions, cfg, model_ids)
