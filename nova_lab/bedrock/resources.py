"""The study's AWS resources: found by name and tag and reused, created idempotently (teardown.py removes them).

Every resource carries the tag `nova-lab-study=<study_tag>`, and its name is derived from the
study tag and its inputs, so a second run finds the first one's bucket, job or deployment
instead of paying for a new one. Creation calls carry a client request token derived from
the name, the request's settings and the run's nonce (`tokens.py`), so a retried request
cannot create a twin and a changed or post-teardown request is not mistaken for an old one. The
resources of one step are made where that step lives (`knowledge_base.py`, `customization.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from nova_lab.core.caching import fingerprint
from nova_lab.core.params import BedrockSettings
from nova_lab.core.study_models import STUDY_MODELS

TAG_KEY = "nova-lab-study"


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    identifier: str  # what the delete call takes: a name, an id or an ARN
    reused: bool = False


SERVICES = ("s3", "bedrock", "bedrock-agent", "s3vectors", "bedrock-runtime", "bedrock-agent-runtime",
            "opensearchserverless", "sts")


@dataclass(frozen=True)
class Clients:
    s3: Any
    bedrock: Any
    bedrock_agent: Any
    s3vectors: Any
    bedrock_runtime: Any = None
    agent_runtime: Any = None
    opensearch: Any = None  # OpenSearch Serverless, with `vector_store: opensearch_serverless`
    sts: Any = None
    nonce: str = ""  # the run's, from its state (tokens.run_nonce): part of every client request token

    @classmethod
    def create(cls, settings: BedrockSettings) -> "Clients":
        """One client per service, shared by every thread: adaptive retries pace them together (except a
        tokens-per-day throttle, which no retry within the day can pass)."""
        config = Config(region_name=settings.region, retries={"mode": "adaptive", "total_max_attempts": 8})
        clients = cls(*(boto3.client(service, config=config) for service in SERVICES))
        for model_calls in (clients.bedrock_runtime, clients.agent_runtime):  # Converse; Retrieve embeds the query
            refuse_daily_quota_retries(model_calls)
        return clients


def daily_quota(error: dict[str, Any]) -> bool:
    """Whether an error is Bedrock's tokens-per-day throttle ("Too many tokens per day, please wait before trying
    again."): unlike a per-minute throttle, no back-off passes it before the day's quota refills."""
    return error.get("Code") == "ThrottlingException" and "per day" in str(error.get("Message", "")).lower()


def _no_retry_on_daily_quota(response: Any = None, **kwargs: Any) -> bool | None:
    """botocore's `needs-retry` hook: False (do not retry) for a tokens-per-day throttle, None (the retry mode
    decides) for anything else. Registered first, its answer is the one botocore takes."""
    parsed = response[1] if response else {}
    return False if daily_quota(parsed.get("Error", {})) else None


def refuse_daily_quota_retries(client: Any) -> None:
    """Make the client give up on a tokens-per-day throttle at once instead of retrying it for minutes."""
    service = client.meta.service_model.service_id.hyphenize()  # where botocore's retry handler listens
    client.meta.events.register_first(f"needs-retry.{service}", _no_retry_on_daily_quota)


def resource_name(settings: BedrockSettings, *parts: str) -> str:
    """A name every Bedrock, S3 Vectors and OpenSearch name field accepts: the study tag (lower case, <= 24
    chars, validated) and the parts in lower case, each run of other characters one hyphen (Bedrock's
    `([0-9a-zA-Z][_-]?)+` patterns refuse two in a row, which a run_name like `a__b` would give). A name over
    63 characters keeps its head and ends in a digest of the whole, so any valid run_name gives a valid name
    and distinct long names stay distinct."""
    cleaned = [re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts]
    name = "-".join([settings.study_tag, *filter(None, cleaned)])
    return name if len(name) <= 63 else f"{name[:54].rstrip('-')}-{fingerprint(name)[:8]}"


# Every resource's name, built here and nowhere else (teardown, IAM and preflight find them by these).
def knowledge_base_name(settings: BedrockSettings) -> str:
    return resource_name(settings, "kb")


def collection_name(settings: BedrockSettings) -> str:
    """The OpenSearch Serverless collection the knowledge base writes to: <= 28 characters (collections take 3-32)."""
    return resource_name(settings, "kb")


def vector_bucket_name(settings: BedrockSettings) -> str:
    return resource_name(settings, "vectors")


def data_source_name(settings: BedrockSettings, run_name: str, chunk_tokens: int, chunk_overlap: int) -> str:
    """One per run and chunking, so a second chunking of the same corpus is seen (and refused), not added."""
    return resource_name(settings, run_name, settings.chunking.lower(), f"{chunk_tokens}-{chunk_overlap}")


def job_name(settings: BedrockSettings, model: str, data_digest: str, hyperparameters: dict[str, Any]) -> str:
    """Named by base model, data and hyperparameters: the same training is found and reused, another one is new."""
    return resource_name(settings, model, fingerprint(STUDY_MODELS[model].training_id, data_digest, hyperparameters)[:12])


def attempt_name(job: str, attempt: int) -> str:
    """The name of a training's `attempt`-th job: Bedrock keeps a failed job's name, so a retry needs another.
    The first keeps the plain name (jobs made before retries existed are found); later ones end in -a2, -a3..."""
    return job if attempt == 1 else f"{job}-a{attempt}"


def attempt_of(job: str, name: str) -> int | None:
    """Which attempt of `job` a listed job name is; None for another job whose name merely contains it."""
    if name == job:
        return 1
    retry = re.fullmatch(rf"{re.escape(job)}-a([1-9][0-9]*)", name)
    return int(retry.group(1)) if retry else None


def serving_name(settings: BedrockSettings, job: str) -> str:
    return resource_name(settings, job.removeprefix(f"{settings.study_tag}-"), "serve")


def tags(settings: BedrockSettings) -> list[dict[str, str]]:
    return [{"key": TAG_KEY, "value": settings.study_tag}]


def ensure_bucket(clients: Clients, settings: BedrockSettings) -> Resource:
    """The study's bucket: reused when it exists, else created in the region and tagged."""
    try:
        clients.s3.head_bucket(Bucket=settings.bucket)
        return Resource("s3-bucket", settings.bucket, settings.bucket, reused=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    location = {} if settings.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": settings.region}}
    clients.s3.create_bucket(Bucket=settings.bucket, **location)
    clients.s3.put_bucket_tagging(Bucket=settings.bucket, Tagging={"TagSet": [{"Key": TAG_KEY, "Value": settings.study_tag}]})
    return Resource("s3-bucket", settings.bucket, settings.bucket)


def upload(clients: Clients, settings: BedrockSettings, key: str, body: bytes) -> str:
    """Put one object under the study's prefix; returns its s3:// URI."""
    full_key = f"{settings.study_tag}/{key}"
    clients.s3.put_object(Bucket=settings.bucket, Key=full_key, Body=body)
    return f"s3://{settings.bucket}/{full_key}"


def if_exists(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """The call's response, or None when AWS says the resource is not there (any other error is raised)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def pages(client: Any, operation: str, key: str, **kwargs: Any):
    """Every item of a paginated list call."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])
