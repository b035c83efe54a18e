"""Step 04 on Bedrock: the four configurations through Retrieve and Converse, in the offline records.

Retrieve runs at most once per question in a pass, and only for answers not yet stored (RAG
configurations share its passages; the latency sample's pass asks again); each answer is one
Converse call on the base model or the custom model's deployment, so its latency is a single
request's, retrieval included for RAG, and tokens are Bedrock's own usage counts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from nova_lab.bedrock import batch, runtime
from nova_lab.core.caching import fingerprint
from nova_lab.core.params import InferenceParams
from nova_lab.core.records import RecordStore, answer_record
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


@dataclass(frozen=True)
class Asked:
    """One answer to make: a question in one configuration, on the base model or the custom model's deployment."""

    key: str
    question: Any  # a row of the test set (id, question)
    configuration: str
    model_id: str


def asked(retrieval: Retrieval, questions: pd.DataFrame, cfg: InferenceParams, model_ids: dict[str, str]) -> list[Asked]:
    """Every (question, configuration); `model_ids` maps "base" and "ft" to Converse model ids. The key is what the
    answer depends on, not the route that asks it (on demand or in a batch job)."""
    made = []
    for q in questions.itertuples():
        for configuration in CONFIGURATIONS:
            model_id = model_ids["ft" if uses_adapter(configuration) else "base"]
            context = (retrieval.knowledge_base_id, cfg.rag_top_k, retrieval.search_type) if uses_rag(configuration) else ()
            key = fingerprint("bedrock", model_id, configuration, q.id, q.question, context,
                              prompts.PROMPT_VERSION, cfg.max_new_tokens)
            made.append(Asked(key, q, configuration, model_id))
    return made


def _prompt(one: Asked, passages: tuple[Passage, ...]) -> str:
    return prompts.user_message(one.question.question, [p.text for p in passages])


def record_of(one: Asked, reply: runtime.Reply, passages: tuple[Passage, ...], latency_ms: float | None,
              cfg: InferenceParams, batch_size: int = 1) -> dict[str, Any]:
    return answer_record(
        key=one.key, question_id=one.question.id, model=cfg.model, configuration=one.configuration, answer=reply.text,
        input_tokens=reply.input_tokens, output_tokens=reply.output_tokens, latency_ms=latency_ms,
        batch_size=batch_size, stopped=reply.stop_reason == "end_turn", passages=passages,
        adapter_key=one.model_id if uses_adapter(one.configuration) else None, max_new_tokens=cfg.max_new_tokens,
        backend="bedrock", prompt_version=prompts.PROMPT_VERSION)


def jobs(client: Any, retrieval: Retrieval, questions: pd.DataFrame, cfg: InferenceParams,
         model_ids: dict[str, str]) -> list[runtime.Job]:
    """Every answer of these questions as an on-demand job (`runtime.run_jobs` asks those not yet stored), its
    passages fetched once and shared by both RAG configurations; its latency a single request's, Retrieve
    included for RAG."""
    def call(one: Asked):
        def run() -> dict[str, Any]:
            passages, retrieval_ms = retrieval.get(one.question.id, one.question.question) \
                if uses_rag(one.configuration) else ((), 0.0)
            reply = runtime.converse(client, one.model_id, _prompt(one, passages), cfg.max_new_tokens)
            return record_of(one, reply, passages, round(reply.wall_ms + retrieval_ms, 1), cfg)
        return run
    return [runtime.Job(one.key, call(one)) for one in asked(retrieval, questions, cfg, model_ids)]


def in_batch(run: Any, retrieval: Retrieval, questions: pd.DataFrame, cfg: InferenceParams,
             model_ids: dict[str, str], store: RecordStore) -> batch.Outcome:
    """The answers on the base model (base, RAG: Bedrock batches no custom Nova model) not yet stored, through a
    batch job: passages fetched first, as on demand; the records stored as on demand, with no latency (no one
    timed them: 06 reads latency from the timed sample) and the job's size as their batch size. What the job
    could not take comes back in `left` (asked on demand by `jobs`)."""
    done = store.keys()
    pending = [one for one in asked(retrieval, questions, cfg, model_ids)
               if one.key not in done and not uses_adapter(one.configuration)]
    passages = {one.key: retrieval.get(one.question.id, one.question.question)[0] if uses_rag(one.configuration)
                else () for one in tqdm(pending, desc="retrieve for the batch", unit="answer")}
    requests = [batch.Request(one.key, one.model_id, runtime.converse_body(_prompt(one, passages[one.key]),
                                                                           cfg.max_new_tokens)) for one in pending]
    outcome = batch.converse_all(run, f"answers-{cfg.model}", requests)
    store.append([record_of(one, runtime.reply_of(outcome.responses[one.key], float("nan")), passages[one.key], None,
                            cfg, batch_size=len(outcome.responses)) for one in pending if one.key in outcome.responses])
    return outcome
