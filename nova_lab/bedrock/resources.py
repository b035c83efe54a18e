"""The study's AWS resources: found by name and tag and reused, created idempotently (teardown.py removes them).

Every resource carries the tag `nova-lab-study=<study_tag>`, and its name is derived from the
study tag and its inputs, so a second run finds the first one's bucket, job or deployment
instead of paying for a new one. Creation calls carry a client request token derived from
the name, the request's settings and the run's nonce (`tokens.py`), so a retried request
cannot create a twin and a changed or post-teardown request is not mistaken for an old one. Provisioned throughput, billed by
the hour, is only ever requested with `allow_provisioned_throughput: true`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from nova_lab.bedrock import pricing
from nova_lab.bedrock.tokens import request_token
from nova_lab.caching import fingerprint
from nova_lab.params import BedrockSettings
from nova_lab.study_models import STUDY_MODELS

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
        """One client per service, shared by every thread: adaptive retries pace them together."""
        config = Config(region_name=settings.region, retries={"mode": "adaptive", "total_max_attempts": 8})
        return cls(*(boto3.client(service, config=config) for service in SERVICES))


def resource_name(settings: BedrockSettings, *parts: str) -> str:
    """A name every Bedrock and S3 Vectors field accepts: the study tag (lower case, <= 24 chars,
    validated) and short lower-case parts, joined by single hyphens, <= 63 characters."""
    cleaned = ["".join(c if c.isalnum() else "-" for c in part.lower()).strip("-") for part in parts]
    name = "-".join([settings.study_tag, *filter(None, cleaned)])
    if len(name) > 63:
        raise ValueError(f"resource name {name!r} is longer than 63 characters")
    return name


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


def serving_name(settings: BedrockSettings, job: str) -> str:
    return resource_name(settings, job.removeprefix(f"{settings.study_tag}-"), "serve")


def _tags(settings: BedrockSettings) -> list[dict[str, str]]:
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


class StaleResource(RuntimeError):
    """A resource with the study's name exists but cannot be reused (failed, or its model was deleted)."""


def ensure_customization_job(clients: Clients, settings: BedrockSettings, model: str, data_digest: str,
                             hyperparameters: dict[str, Any], train_uri: str, validation_uri: str) -> Resource:
    """The fine-tuning job for this model, data and hyperparameters: an existing one is reused."""
    name = job_name(settings, model, data_digest, hyperparameters)
    for job in pages(clients.bedrock, "list_model_customization_jobs", "modelCustomizationJobSummaries", nameContains=name):
        if job["jobName"] != name:
            continue
        if job["status"] == "InProgress" or (job["status"] == "Completed" and _model_exists(clients, job)):
            return Resource("customization-job", name, name, reused=True)
        raise StaleResource(f"customization job {name} is {job['status']}" + (
            " but its custom model was deleted" if job["status"] == "Completed" else "") +
            ": Bedrock keeps job names, so set another `bedrock.study_tag` to train again")
    request = dict(
        jobName=name, customModelName=name, roleArn=settings.role_arn,
        baseModelIdentifier=STUDY_MODELS[model].training_id, customizationType="FINE_TUNING",
        hyperParameters={key: str(value) for key, value in hyperparameters.items()},
        trainingDataConfig={"s3Uri": train_uri},
        **({"validationDataConfig": {"validators": [{"s3Uri": validation_uri}]}}
           if STUDY_MODELS[model].job_takes_validation else {}),
        outputDataConfig={"s3Uri": f"s3://{settings.bucket}/{settings.study_tag}/customization/{name}/"},
        jobTags=_tags(settings), customModelTags=_tags(settings))
    clients.bedrock.create_model_customization_job(
        **request, clientRequestToken=request_token(name, request, clients.nonce))
    return Resource("customization-job", name, name)


def if_exists(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    """The call's response, or None when AWS says the resource is not there (any other error is raised)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def _model_exists(clients: Clients, job: dict[str, Any]) -> bool:
    return if_exists(clients.bedrock.get_custom_model, modelIdentifier=job.get("customModelArn") or job["jobName"]) is not None


def ensure_serving(clients: Clients, settings: BedrockSettings, model_arn: str, name: str) -> Resource:
    """On-demand deployment of a custom model, or provisioned throughput when the params opt in."""
    if not settings.allow_provisioned_throughput:
        for found in pages(clients.bedrock, "list_custom_model_deployments", "modelDeploymentSummaries", nameContains=name):
            if found["customModelDeploymentName"] == name and found["status"] != "Failed" and found["modelArn"] == model_arn:
                return Resource("deployment", name, found["customModelDeploymentArn"], reused=True)
        request = dict(modelDeploymentName=name, modelArn=model_arn, tags=_tags(settings))
        arn = clients.bedrock.create_custom_model_deployment(
            **request, clientRequestToken=request_token(name, request, clients.nonce))["customModelDeploymentArn"]
        return Resource("deployment", name, arn)
    for found in pages(clients.bedrock, "list_provisioned_model_throughputs", "provisionedModelSummaries", nameContains=name):
        if found["provisionedModelName"] == name and found["status"] != "Failed" and found["modelArn"] == model_arn:
            return Resource("provisioned-throughput", name, found["provisionedModelArn"], reused=True)
    hourly = pricing.price("provisioned-throughput/no-commitment").usd
    print(f"nova-lab: requesting provisioned throughput {name}: 1 model unit, no commitment, "
          f"about ${hourly:.2f} an hour until `nova-lab teardown` removes it")
    request = dict(modelUnits=1, provisionedModelName=name, modelId=model_arn, tags=_tags(settings))
    arn = clients.bedrock.create_provisioned_model_throughput(
        **request, clientRequestToken=request_token(name, request, clients.nonce))["provisionedModelArn"]
    return Resource("provisioned-throughput", name, arn)


def pages(client: Any, operation: str, key: str, **kwargs: Any):
    """Every item of a paginated list call."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])
