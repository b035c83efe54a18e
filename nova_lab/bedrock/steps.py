"""Steps 01, 02 and 04 on Bedrock, each resumable: what one step made (URIs, ids, ARNs) is kept in the
run's state (`state.py`) for the next step, and every resource is found and reused. Each step takes a
`BedrockRun` (`run_context.py`). Step 03, job to served model, is `customization.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pandas as pd

from nova_lab.bedrock import answering, knowledge_base, opensearch
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.runtime import SEARCH_TYPES, run_jobs
from nova_lab.bedrock.state import needs, read_state, update_state
from nova_lab.bedrock.study_data import upload_study_data
from nova_lab.core import results
from nova_lab.core.bedrock_models import EMBEDDING_DIMENSIONS
from nova_lab.core.params import InferenceParams, ParamsError
from nova_lab.core.records import RecordStore
from nova_lab.core.study_steps import DATA_PREP, FINE_TUNE, KB_BUILD, run_this
from nova_lab.data.qa import timed_sample


def data_prep(run: BedrockRun, own_folder: Path | None = None) -> dict[str, str]:
    """The corpus (`own_folder`: your documents' files) and the Nova files of step 01, uploaded; their URIs kept
    for steps 02-03."""
    return update_state(run.name, data=upload_study_data(run, own_folder))["data"]


def _vector_store(run: BedrockRun) -> tuple[dict, dict]:
    """The knowledge base's storage (made or reused), and what of it the state keeps."""
    settings = run.settings
    if settings.vector_store == "s3_vectors":
        index_arn = knowledge_base.ensure_vector_index(run)
        return knowledge_base.s3_vectors_storage(index_arn), {"index_arn": index_arn}
    collection = opensearch.ensure_collection(run)
    if settings.recording != "replay":  # made over the collection's REST API, which a recording does not hold
        opensearch.ensure_index(collection, boto3.Session().get_credentials(), settings.region,
                                EMBEDDING_DIMENSIONS, sleep=run.sleep, principals=settings.role_arn)
    return opensearch.storage_configuration(collection), {"collection_arn": collection.arn}


def kb_build(run: BedrockRun, chunk_tokens: int, chunk_overlap: int) -> dict[str, Any]:
    """Vector store, knowledge base and data source (reused when they exist), then an ingestion."""
    run_name = run.name
    needs(read_state(run_name), "data", DATA_PREP, run_name)
    storage, kept = _vector_store(run)
    kb = knowledge_base.ensure_knowledge_base(run, storage)
    source = knowledge_base.ensure_data_source(run, kb.identifier, chunk_tokens, chunk_overlap)
    statistics = knowledge_base.ingest(run, kb.identifier, source.identifier)
    return update_state(run_name, knowledge_base={"id": kb.identifier, "data_source": source.identifier,
                                                  **kept, "ingestion": statistics})["knowledge_base"]


def inference(run: BedrockRun, cfg: InferenceParams, questions: pd.DataFrame) -> dict[str, Any]:
    """The four configurations on Bedrock into the model's answer store: with `invocation: batch`, those on the base
    model through a batch job first (`answering.in_batch`), then every answer still missing on demand,
    `concurrency` requests at a time; then the latency sample asked again one request at a time, as offline, so
    that no timing waits behind another request or a throttled neighbour's retries."""
    clients, settings = run.clients, run.settings
    state = read_state(cfg.run_name)
    served = needs(state, "models", FINE_TUNE, cfg.run_name).get(cfg.model)
    if served is None:
        raise ParamsError(f"no served {cfg.model} model in the Bedrock state: {run_this(FINE_TUNE, cfg.run_name, cfg.model)} first")
    kb = needs(state, "knowledge_base", KB_BUILD, cfg.run_name)
    model_ids = {"base": served["base"], "ft": served["serving"]}
    search = SEARCH_TYPES[knowledge_base.search_modes(settings)[0]]  # hybrid like offline, where the store has it

    def retrieval() -> answering.Retrieval:  # one per pass: the latency sample's asks Retrieve again, timed
        return answering.Retrieval(clients.agent_runtime, kb["id"], cfg.rag_top_k, search)

    shared, sample = retrieval(), timed_sample(questions, cfg.latency_sample, cfg.seed)
    answer = answering.jobs(clients.bedrock_runtime, shared, questions, cfg, model_ids)
    timed = answering.jobs(clients.bedrock_runtime, retrieval(), sample, cfg, model_ids)
    results.set_current(cfg.run_name, cfg.model, answers=[j.key for j in answer], latency=[j.key for j in timed],
                        repeats=[])  # one adapter on Bedrock (params refuse finetune_repeats > 1)
    store = RecordStore(results.answers_path(cfg.run_name, cfg.model))
    batched = answering.in_batch(run, shared, questions, cfg, model_ids, store) if settings.invocation == "batch" \
        else None
    answered = run_jobs(answer, store, settings.concurrency, desc="converse")
    timed_now = run_jobs(timed, RecordStore(results.latency_path(cfg.run_name, cfg.model)), 1, desc="latency")
    return {"requests": answered["requests"], "answered_now": answered["made_now"], "timed_now": timed_now["made_now"],
            "batch_jobs": batched.jobs if batched else [], "in_batch": len(batched.responses) if batched else 0,
            "failed_in_batch": batched.failed if batched else 0, "failed": answered["failed"] + timed_now["failed"]}
