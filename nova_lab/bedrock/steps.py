"""The study's steps on Bedrock, each resumable: what one step made (URIs, ids, ARNs) is kept in
`outputs/<run>/bedrock/state.json` for the next step, and every resource is found and reused.
Each step takes a `BedrockRun`: the run's clients, settings, name and the sleep its polls wait with.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

import boto3
import pandas as pd
from botocore.exceptions import ClientError
from tqdm.auto import tqdm

from nova_lab import artefacts, results
from nova_lab.bedrock import answering, customization, knowledge_base, opensearch, resources, tokens
from nova_lab.bedrock.polling import poll
from nova_lab.bedrock.recording import Recording
from nova_lab.bedrock.resources import Clients
from nova_lab.bedrock.runtime import SEARCH_TYPES, run_jobs
from nova_lab.bedrock.study_data import upload_study_data
from nova_lab.data_prep import data_digests
from nova_lab.params import BedrockSettings, CommonParams, FineTuneParams, InferenceParams, ParamsError
from nova_lab.records import RecordStore
from nova_lab.results import FineTuneResult
from nova_lab.study_models import STUDY_MODELS
from nova_lab.study_steps import DATA_PREP, FINE_TUNE, KB_BUILD, Step, run_this



class ServingFailed(RuntimeError):
    """The deployment or provisioned throughput ended in Failed; Bedrock's reason is in the message."""


def state_path(run_name: str) -> Path:
    return artefacts.path(artefacts.BEDROCK_STATE, run_name)


def open_clients(settings: BedrockSettings, run_name: str, scope: str) -> Clients:
    """The run's AWS clients, recording every response to (or replaying it from) the run's
    `bedrock/recording.jsonl` under `scope` (the step and model) when `settings.recording` asks for it."""
    clients = dataclasses.replace(Clients.create(settings), nonce=tokens.run_nonce(run_name))
    if settings.recording != "off":
        recording = Recording(state_path(run_name).with_name("recording.jsonl"), settings.recording, scope)
        for client in vars(clients).values():
            if hasattr(client, "meta"):  # the boto3 clients, not the run's nonce
                recording.attach(client)
    return clients


@dataclasses.dataclass(frozen=True)
class BedrockRun:
    """One step of a study on Bedrock: what every Bedrock step needs, passed as one."""

    clients: Clients
    settings: BedrockSettings
    name: str  # the run's name: outputs/<name>/, and the nonce of its idempotency tokens
    sleep: Callable[[float], None] = time.sleep  # how polls wait; a replay has nothing to wait for

    @classmethod
    def open(cls, cfg: CommonParams, step: str) -> "BedrockRun":
        """The run of these params for `step`: clients recording or replaying under the step (and model)."""
        model = getattr(cfg, "model", None)
        clients = open_clients(cfg.bedrock, cfg.run_name, f"{step}/{model}" if model else step)
        sleep = (lambda seconds: None) if cfg.bedrock.recording == "replay" else time.sleep
        return cls(clients, cfg.bedrock, cfg.run_name, sleep)


def read_state(run_name: str) -> dict[str, Any]:
    path = state_path(run_name)
    return json.loads(path.read_text()) if path.exists() else {}


def update_state(run_name: str, **parts: Any) -> dict[str, Any]:
    state = read_state(run_name) | parts
    state_path(run_name).write_text(json.dumps(state, indent=2, default=str))
    return state


def _needs(state: dict[str, Any], part: str, step: Step, run_name: str) -> Any:
    if part not in state:
        raise ParamsError(f"no `{part}` in the Bedrock state of this run: {run_this(step, run_name)} on Bedrock first")
    return state[part]


def data_prep(run: BedrockRun) -> dict[str, str]:
    """The corpus and the Nova files of step 01, uploaded; their URIs kept for steps 02-03."""
    return update_state(run.name, data=upload_study_data(run.clients, run.settings, run.name))["data"]


def _vector_store(run: BedrockRun) -> tuple[dict, dict]:
    """The knowledge base's storage (made or reused), and what of it the state keeps."""
    clients, settings, sleep = run.clients, run.settings, run.sleep
    if settings.vector_store == "s3_vectors":
        index_arn = knowledge_base.ensure_vector_index(clients, settings)
        return knowledge_base.s3_vectors_storage(index_arn), {"index_arn": index_arn}
    collection = opensearch.ensure_collection(clients, settings, sleep)
    if settings.recording != "replay":  # made over the collection's REST API, which a recording does not hold
        opensearch.ensure_index(collection, boto3.Session().get_credentials(), settings.region,
                                knowledge_base.EMBEDDING_DIMENSIONS, sleep=sleep, principals=settings.role_arn)
    return opensearch.storage_configuration(collection), {"collection_arn": collection.arn}


def kb_build(run: BedrockRun, chunk_tokens: int, chunk_overlap: int) -> dict[str, Any]:
    """Vector store, knowledge base and data source (reused when they exist), then an ingestion."""
    clients, settings, run_name, sleep = run.clients, run.settings, run.name, run.sleep
    _needs(read_state(run_name), "data", DATA_PREP, run_name)
    storage, kept = _vector_store(run)
    kb = knowledge_base.ensure_knowledge_base(clients, settings, storage, sleep=sleep)
    source = knowledge_base.ensure_data_source(clients, settings, kb.identifier, run_name, chunk_tokens, chunk_overlap,
                                               sleep=sleep)
    statistics = knowledge_base.ingest(clients, kb.identifier, source.identifier, sleep=sleep)
    return update_state(run_name, knowledge_base={"id": kb.identifier, "data_source": source.identifier,
                                                  **kept, "ingestion": statistics})["knowledge_base"]


def _serving_status(clients: Clients, serving: resources.Resource) -> str:
    """The deployment's (or provisioned throughput's) status; one not found yet, just after its create, is
    still being made. Credentials that expired during the wait stop with the way out, not a traceback."""
    try:
        if serving.kind == "deployment":
            found = resources.if_exists(clients.bedrock.get_custom_model_deployment,
                                        customModelDeploymentIdentifier=serving.identifier)
        else:
            found = resources.if_exists(clients.bedrock.get_provisioned_model_throughput,
                                        provisionedModelId=serving.identifier)
    except ClientError as exc:
        if customization.expired(exc):
            raise customization.CredentialsExpired(
                f"the AWS credentials expired while waiting for {serving.kind} {serving.name}: refresh "
                f"credentials and run again: the {serving.kind} is reused") from None
        raise
    return (found or {"status": "Creating"})["status"]


def _wait_until_serving(clients: Clients, serving: resources.Resource, sleep: Callable[[float], None]) -> None:
    ready = "Active" if serving.kind == "deployment" else "InService"
    with tqdm(desc=f"{serving.kind} {serving.name}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        for status in poll(lambda: _serving_status(clients, serving), 15.0, 120.0, sleep):
            bar.set_postfix_str(status, refresh=True)
            if status == ready:
                return
            if status == "Failed":
                raise ServingFailed(f"{serving.kind} {serving.name} failed: see the Bedrock console for the reason")


def job_hyperparameters(cfg: FineTuneParams) -> dict[str, Any]:
    """The hyperparameters this model's customization job takes, by Nova's API names (Nova 2 takes fewer)."""
    return {name: getattr(cfg, name) for name in STUDY_MODELS[cfg.model].hyperparameters}


def fine_tune(run: BedrockRun, cfg: FineTuneParams) -> FineTuneResult:
    """The customization job (reused when one exists for this data), its custom model served: what was served
    (kept in the run's state for step 04) and the loss history."""
    clients, settings, sleep = run.clients, run.settings, run.sleep
    uris = _needs(read_state(cfg.run_name), "data", DATA_PREP, cfg.run_name)
    digest = "".join(data_digests(cfg.run_name).values())
    job = resources.ensure_customization_job(
        clients, settings, cfg.model, digest, job_hyperparameters(cfg),
        uris["train"], uris["validation"])
    finished = customization.wait_for_job(clients, job.name, sleep=sleep)
    serving = resources.ensure_serving(clients, settings, finished["outputModelArn"],
                                       resources.serving_name(settings, job.name))
    _wait_until_serving(clients, serving, sleep)
    served = {"job": job.name, "model_arn": finished["outputModelArn"], "serving": serving.identifier,
              "serving_kind": serving.kind, "base": STUDY_MODELS[cfg.model].converse_id}
    update_state(cfg.run_name, models=read_state(cfg.run_name).get("models", {}) | {cfg.model: served})
    history = customization.loss_history(clients, finished["outputDataConfig"]["s3Uri"])
    return FineTuneResult({**served, "hyperparameters": job_hyperparameters(cfg)}, history)


def inference(run: BedrockRun, cfg: InferenceParams, questions: pd.DataFrame) -> dict[str, Any]:
    """The four configurations on Bedrock into the model's answer store, `concurrency` requests at a
    time; then the latency sample asked again one request at a time, as offline, so that no timing
    waits behind another request or a throttled neighbour's retries."""
    clients, settings = run.clients, run.settings
    state = read_state(cfg.run_name)
    served = _needs(state, "models", FINE_TUNE, cfg.run_name).get(cfg.model)
    if served is None:
        raise ParamsError(f"no served {cfg.model} model in the Bedrock state: {run_this(FINE_TUNE, cfg.run_name, cfg.model)} first")
    kb = _needs(state, "knowledge_base", KB_BUILD, cfg.run_name)
    model_ids = {"base": served["base"], "ft": served["serving"]}
    search = SEARCH_TYPES[knowledge_base.search_modes(settings)[0]]  # hybrid like offline, where the store has it

    def answer_jobs(asked: pd.DataFrame) -> list:
        return answering.answer_jobs(clients.bedrock_runtime, clients.agent_runtime, kb["id"], asked, cfg, model_ids,
                                     search)

    answer, timed = answer_jobs(questions), answer_jobs(results.timed_sample(questions, cfg.latency_sample, cfg.seed))
    results.set_current(cfg.run_name, cfg.model, answers=[j.key for j in answer], latency=[j.key for j in timed],
                        repeats=[])  # one adapter on Bedrock (params refuse finetune_repeats > 1)
    answered = run_jobs(answer, RecordStore(results.answers_path(cfg.run_name, cfg.model)), settings.concurrency,
                        desc="converse")
    timed_now = run_jobs(timed, RecordStore(results.latency_path(cfg.run_name, cfg.model)), 1, desc="latency")
    return {"requests": answered["requests"], "answered_now": answered["made_now"], "timed_now": timed_now["made_now"],
            "failed": answered["failed"] + timed_now["failed"]}
