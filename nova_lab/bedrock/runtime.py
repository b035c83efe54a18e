"""Answers and verdicts through the Converse API, with bounded concurrency, and retrieval.

Each request is one Converse call from a thread pool of `concurrency` workers sharing one
client, whose adaptive retry mode paces every thread once the service throttles. A request
that still fails after the retries is reported as failed and not stored, so the next run
asks it again: nothing is lost and, with answers keyed like offline ones, nothing doubles.
Expired credentials and a spent tokens-per-day quota are not retried: every request after them
would fail alike, so they stop the loop at once with the way out (`way_out`).
Latency is the client's wall time per call (what a user waits), next to Bedrock's own
`metrics.latencyMs`.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from botocore.exceptions import BotoCoreError, ClientError
from tqdm.auto import tqdm

from nova_lab.bedrock.polling import CredentialsExpired, RunStopped, expired
from nova_lab.bedrock.recording import RECORDED_WALL_MS, ReplayMissing
from nova_lab.bedrock.resources import daily_quota
from nova_lab.bedrock.study_data import doc_id_of
from nova_lab.core.records import RecordStore
from nova_lab.data.nova_format import SYSTEM_PROMPT
from nova_lab.retrieval.knowledge_base import Passage


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    stop_reason: str
    service_latency_ms: float  # Bedrock's own (NaN where a batch output gives none)
    wall_ms: float  # request to full answer; NaN for a batch record, which no one timed


def converse_body(user_text: str, max_tokens: int, system: str = SYSTEM_PROMPT) -> dict[str, Any]:
    """A greedy Converse request without its model id: what a call sends and a batch record's `modelInput` holds."""
    return {"system": [{"text": system}], "messages": [{"role": "user", "content": [{"text": user_text}]}],
            "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0}}


def reply_of(response: dict[str, Any], wall: float) -> Reply:
    """A Converse response (a call's, or a batch job's `modelOutput`) as the study reads it."""
    usage = response["usage"]
    text = "".join(block.get("text", "") for block in response["output"]["message"]["content"]).strip()
    return Reply(text, usage["inputTokens"], usage["outputTokens"], usage["totalTokens"], response["stopReason"],
                 response.get("metrics", {}).get("latencyMs", float("nan")), wall)


def converse(client: Any, model_id: str, user_text: str, max_tokens: int, system: str = SYSTEM_PROMPT) -> Reply:
    """One greedy Converse call, timed from request to full answer."""
    started = time.perf_counter()
    response = client.converse(modelId=model_id, **converse_body(user_text, max_tokens, system))
    return reply_of(response, wall_ms(response, started))


def wall_ms(response: dict[str, Any], started: float) -> float:
    """A call's wall time in ms: measured since `started`, or the recorded one when the response is replayed."""
    recorded = response.get("ResponseMetadata", {}).get(RECORDED_WALL_MS)
    return round(recorded if recorded is not None else (time.perf_counter() - started) * 1000, 1)


def retrieve(client: Any, knowledge_base_id: str, question: str, top_k: int,
             search_type: str | None = None) -> tuple[list[Passage], float]:
    """Top-k passages from a Bedrock knowledge base, in the offline retriever's shape, and the wall time in ms."""
    search = {"numberOfResults": top_k} | ({"overrideSearchType": search_type} if search_type else {})
    started = time.perf_counter()
    response = client.retrieve(knowledgeBaseId=knowledge_base_id, retrievalQuery={"text": question},
                               retrievalConfiguration={"vectorSearchConfiguration": search})
    passages = []
    for result in response["retrievalResults"]:
        metadata = result.get("metadata", {})
        source = metadata.get("x-amz-bedrock-kb-source-uri") or result["location"].get("s3Location", {}).get("uri", "")
        chunk = metadata.get("x-amz-bedrock-kb-chunk-id", source)
        passages.append(Passage(str(chunk), doc_id_of(source), result["content"]["text"], float(result.get("score", 0.0))))
    return passages, wall_ms(response, started)


SEARCH_TYPES = {"vector": "SEMANTIC", "hybrid": "HYBRID"}  # Bedrock has no keyword-only search


class BedrockRetriever:
    """A Bedrock knowledge base behind the offline `Retriever` protocol, for the same retrieval table.
    S3 Vectors knowledge bases search by vector only; hybrid needs OpenSearch Serverless."""

    def __init__(self, client: Any, knowledge_base_id: str):
        self.client, self.knowledge_base_id = client, knowledge_base_id

    def retrieve(self, query: str, k: int = 5, mode: str = "vector") -> list[Passage]:
        if mode not in SEARCH_TYPES:
            raise ValueError(f"mode = {mode!r}: a Bedrock knowledge base searches by {sorted(SEARCH_TYPES)}")
        return retrieve(self.client, self.knowledge_base_id, query, k, SEARCH_TYPES[mode])[0]


@dataclass(frozen=True)
class Job:
    key: str
    run: Callable[[], dict[str, Any]]  # makes the call and returns the record to store


class DailyQuotaSpent(RunStopped):
    """Bedrock refused a call for the rest of the day: the account's tokens-per-day quota of the model is spent."""


def way_out(exc: BaseException, doing: str) -> RuntimeError | None:
    """The one-line stop for an error no retry helps within this run, or None: credentials that expired during
    an hour-long loop, or the day's tokens spent. Every request after it would fail the same way."""
    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    if expired(exc):
        return CredentialsExpired(f"the AWS credentials expired ({error.get('Code')}) during {doing}: refresh "
                                  f"credentials and run again: what is stored is kept, only the rest is asked")
    if daily_quota(error):
        return DailyQuotaSpent(f"Bedrock refused {doing} for today: {error.get('Message', '')} (the model's "
                               f"tokens-per-day quota is spent); what is stored is kept: request an increase in "
                               f"Service Quotas (Amazon Bedrock, tokens per day), or run again tomorrow")
    return None


def settled(futures: Iterable[Future]) -> list[Any]:
    """Each future's result once the pool has shut down: None where it was cancelled or failed."""
    return [f.result() if f.done() and not f.cancelled() and f.exception() is None else None for f in futures]


def stop_pool(pool: ThreadPoolExecutor, exc: BaseException, doing: str) -> RunStopped | None:
    """The one-line stop for `exc`, after no waiting request is sent and those in flight have landed
    (their results are then kept by the caller); None when `exc` is not a stop."""
    stop = way_out(exc, doing)
    if stop is not None:
        pool.shutdown(wait=True, cancel_futures=True)
    return stop


def run_jobs(jobs: list[Job], store: RecordStore, concurrency: int, desc: str) -> dict[str, Any]:
    """Every job not yet in the store, `concurrency` at a time; each record stored as it lands. Expired
    credentials or a spent daily quota stop the pool at once with the way out (`way_out`), the records
    of the requests already in flight stored first."""
    done = store.keys()
    pending = [job for job in dict((j.key, j) for j in jobs).values() if job.key not in done]
    failures, stored = [], set()
    with ThreadPoolExecutor(max_workers=concurrency) as pool, tqdm(total=len(pending), desc=desc, unit="call") as bar:
        futures = {pool.submit(job.run): job for job in pending}
        for future in as_completed(futures):
            try:
                record = future.result()
            except ClientError as exc:
                if stop := stop_pool(pool, exc, f"the {desc} requests"):
                    store.append([r for f, r in zip(futures, settled(futures)) if r is not None and f not in stored])
                    raise stop from None
                failures.append({"key": futures[future].key, "error": exc.response["Error"]["Code"]})
            except ReplayMissing:
                raise  # a replay that asks what was never recorded stops, it does not skip
            except Exception as exc:  # timeouts, lost connections: reported like a refusal, asked again next run
                failures.append({"key": futures[future].key, "error": type(exc).__name__})
            else:
                store.append([record])  # from this thread only: results arrive here one by one
                stored.add(future)
            bar.update()
    return {"requests": len(jobs), "made_now": len(pending) - len(failures), "failed": failures}


TRANSIENT = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException", "ModelTimeoutException",
             "ModelNotReadyException", "ServiceQuotaExceededException"}


def transient(exc: Exception) -> bool:
    """Whether asking again later in this run may succeed: throttling (but not the day's quota), the service's
    own faults, timeouts, lost connections."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return not daily_quota(error) and (
            error.get("Code") in TRANSIENT or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500)
    return isinstance(exc, BotoCoreError)
