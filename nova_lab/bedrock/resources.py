"""The study's AWS resources: found by name and tag and reused, created idempotently, torn down.

Every resource carries the tag `nova-lab-study=<study_tag>`, and its name is derived from the
study tag and its inputs, so a second run finds the first one's bucket, job or deployment
instead of paying for a new one. Creation calls carry a client request token derived from
the name, the request's settings and the run's nonce (`tokens.py`), so a retried request
cannot create a twin and a changed or post-teardown request is not mistaken for an old one. Provisioned throughput, billed by
the hour, is only ever requested with `allow_provisioned_throughput: true`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from nova_lab.bedrock import pricing
from nova_lab.bedrock.polling import poll
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
    name = resource_name(settings, model, fingerprint(STUDY_MODELS[model].training_id, data_digest, hyperparameters)[:12])
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


def _tagged(client: Any, arn: str, settings: BedrockSettings) -> bool:
    tags = client.list_tags_for_resource(resourceARN=arn).get("tags", [])
    return {"key": TAG_KEY, "value": settings.study_tag} in tags


def study_resources(clients: Clients, settings: BedrockSettings) -> list[Resource]:
    """Everything of this study that costs money, found by tag, in the order teardown removes it."""
    found = [Resource("provisioned-throughput", p["provisionedModelName"], p["provisionedModelArn"])
             for p in pages(clients.bedrock, "list_provisioned_model_throughputs", "provisionedModelSummaries")
             if _tagged(clients.bedrock, p["provisionedModelArn"], settings)]
    found += [Resource("deployment", d["customModelDeploymentName"], d["customModelDeploymentArn"])
              for d in pages(clients.bedrock, "list_custom_model_deployments", "modelDeploymentSummaries")
              if _tagged(clients.bedrock, d["customModelDeploymentArn"], settings)]
    found += [Resource("customization-job", j["jobName"], j["jobName"])
              for j in pages(clients.bedrock, "list_model_customization_jobs", "modelCustomizationJobSummaries",
                              statusEquals="InProgress")
              if _tagged(clients.bedrock, j["jobArn"], settings)]
    found += [Resource("custom-model", m["modelName"], m["modelName"])
              for m in pages(clients.bedrock, "list_custom_models", "modelSummaries")
              if _tagged(clients.bedrock, m["modelArn"], settings)]
    found += _knowledge_bases(clients, settings)
    vectors = resource_name(settings, "vectors")
    found += [Resource("vector-bucket", b["vectorBucketName"], b["vectorBucketName"])
              for b in clients.s3vectors.list_vector_buckets(prefix=vectors).get("vectorBuckets", [])
              if b["vectorBucketName"] == vectors]
    return found + _collections(clients, settings) + _study_storage(clients, settings)


def _collections(clients: Clients, settings: BedrockSettings) -> list[Resource]:
    name = resource_name(settings, "kb")  # opensearch.collection_name
    listed = clients.opensearch.list_collections(collectionFilters={"name": name}).get("collectionSummaries", [])
    return [Resource("collection", c["name"], c["id"]) for c in listed
            if c["name"] == name and c.get("status") != "DELETING" and {"key": TAG_KEY, "value": settings.study_tag}
            in clients.opensearch.list_tags_for_resource(resourceArn=c["arn"]).get("tags", [])]


def _knowledge_bases(clients: Clients, settings: BedrockSettings) -> list[Resource]:
    found = []
    for summary in pages(clients.bedrock_agent, "list_knowledge_bases", "knowledgeBaseSummaries"):
        if summary["status"] == "DELETING":
            continue  # a second teardown: already on its way out
        arn = clients.bedrock_agent.get_knowledge_base(knowledgeBaseId=summary["knowledgeBaseId"])["knowledgeBase"]["knowledgeBaseArn"]
        if clients.bedrock_agent.list_tags_for_resource(resourceArn=arn).get("tags", {}).get(TAG_KEY) == settings.study_tag:
            found.append(Resource("knowledge-base", summary["name"], summary["knowledgeBaseId"]))
    return found


def _study_storage(clients: Clients, settings: BedrockSettings) -> list[Resource]:
    """The bucket if the study created it (tagged); else only the objects under the study's prefix."""
    try:
        tags = clients.s3.get_bucket_tagging(Bucket=settings.bucket)["TagSet"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchBucket":
            return []
        tags = []  # NoSuchTagSet: a bucket the user brought
    if {"Key": TAG_KEY, "Value": settings.study_tag} in tags:
        return [Resource("s3-bucket", f"s3://{settings.bucket}/{settings.study_tag}/", settings.bucket)]
    listed = clients.s3.list_objects_v2(Bucket=settings.bucket, Prefix=f"{settings.study_tag}/", MaxKeys=1)
    return [Resource("s3-prefix", f"s3://{settings.bucket}/{settings.study_tag}/", settings.bucket)] if listed.get("KeyCount") else []


def _gone(describe: Callable[[], dict[str, Any]]) -> bool:
    described = if_exists(describe)
    if described is None or described.get("collectionDetails") == []:  # batch_get_collection lists none
        return True
    if described.get("knowledgeBase", {}).get("status") == "DELETE_UNSUCCESSFUL" or \
            described.get("status") == "Failed":
        raise TeardownIncomplete("the service could not delete it: see the console for why")
    return False


def _wait_until_gone(describe: Callable[[], dict[str, Any]], sleep: Callable[[float], None], attempts: int = 30) -> None:
    """Deletes that finish later (a deployment, a provisioned throughput, a knowledge base, a collection)
    are waited for: what depends on them (custom model, vector store, policies) goes only after."""
    for tries, gone in enumerate(poll(lambda: _gone(describe), 5.0, 30.0, sleep), 1):
        if gone:
            return
        if tries == attempts:
            raise TeardownIncomplete("still being deleted after ~12 minutes")


def _delete(clients: Clients, resource: Resource, sleep: Callable[[float], None] = time.sleep) -> None:
    if resource.kind == "provisioned-throughput":
        clients.bedrock.delete_provisioned_model_throughput(provisionedModelId=resource.identifier)
        _wait_until_gone(lambda: clients.bedrock.get_provisioned_model_throughput(
            provisionedModelId=resource.identifier), sleep)
    elif resource.kind == "deployment":
        clients.bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=resource.identifier)
        _wait_until_gone(lambda: clients.bedrock.get_custom_model_deployment(
            customModelDeploymentIdentifier=resource.identifier), sleep)
    elif resource.kind == "customization-job":
        clients.bedrock.stop_model_customization_job(jobIdentifier=resource.identifier)
    elif resource.kind == "custom-model":
        clients.bedrock.delete_custom_model(modelIdentifier=resource.identifier)
    elif resource.kind == "knowledge-base":
        for source in pages(clients.bedrock_agent, "list_data_sources", "dataSourceSummaries", knowledgeBaseId=resource.identifier):
            clients.bedrock_agent.delete_data_source(knowledgeBaseId=resource.identifier, dataSourceId=source["dataSourceId"])
        clients.bedrock_agent.delete_knowledge_base(knowledgeBaseId=resource.identifier)
        _wait_until_gone(lambda: clients.bedrock_agent.get_knowledge_base(knowledgeBaseId=resource.identifier), sleep)
    elif resource.kind == "vector-bucket":
        for index in pages(clients.s3vectors, "list_indexes", "indexes", vectorBucketName=resource.identifier):
            clients.s3vectors.delete_index(vectorBucketName=resource.identifier, indexName=index["indexName"])
        clients.s3vectors.delete_vector_bucket(vectorBucketName=resource.identifier)
    elif resource.kind == "collection":  # then the policies named after it, which carry no tags
        clients.opensearch.delete_collection(id=resource.identifier)
        _wait_until_gone(lambda: clients.opensearch.batch_get_collection(ids=[resource.identifier]), sleep)
        for kind in ("encryption", "network"):
            if_exists(clients.opensearch.delete_security_policy, type=kind, name=resource.name)  # gone already: fine
        if_exists(clients.opensearch.delete_access_policy, type="data", name=resource.name)
    elif resource.kind in ("s3-bucket", "s3-prefix"):
        prefix = resource.name.split("/", 3)[3]  # s3://bucket/<study_tag>/
        for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=resource.identifier, Prefix=prefix):
            for item in page.get("Contents", []):
                clients.s3.delete_object(Bucket=resource.identifier, Key=item["Key"])
        if resource.kind == "s3-bucket" and not clients.s3.list_objects_v2(Bucket=resource.identifier, MaxKeys=1).get("KeyCount"):
            clients.s3.delete_bucket(Bucket=resource.identifier)


class TeardownIncomplete(RuntimeError):
    """Some resources could not be removed; the message lists them with the service's reason."""


STILL_BILLING = {  # what a resource left behind keeps costing, by kind
    "provisioned-throughput": lambda: f"${pricing.price('provisioned-throughput/no-commitment').usd:.2f} an hour",
    "collection": lambda: f"{2 * pricing.price('opensearch-serverless/ocu-hour').usd:.2f} USD an hour (2 OCUs at least)",
    "custom-model": lambda: f"${pricing.price('custom-model/storage').usd:.2f} a month of storage",
    "vector-bucket": lambda: f"${pricing.price('s3-vectors/storage').usd:.2f} per GB-month",
    "s3-bucket": lambda: f"${pricing.price('s3/storage').usd:.3f} per GB-month",
    "s3-prefix": lambda: f"${pricing.price('s3/storage').usd:.3f} per GB-month",
}


def still_billing(resource: Resource) -> str:
    """What a resource that could not be removed goes on costing (nothing idle for on-demand ones)."""
    rate = STILL_BILLING.get(resource.kind)
    return f"still billing {rate()}" if rate else "no charge while idle"


def teardown(clients: Clients, settings: BedrockSettings, dry_run: bool = False,
             sleep: Callable[[float], None] = time.sleep) -> list[Resource]:
    """Remove every resource of the study (found by tag); with dry_run, only list them. Safe to repeat:
    one that fails to go does not stop the others, and all failures are reported at the end."""
    found = study_resources(clients, settings)
    failed = []
    for resource in [] if dry_run else found:
        try:
            _delete(clients, resource, sleep)
        except ClientError as exc:
            failed.append(f"{resource.kind} {resource.name}: {exc.response['Error']['Code']}: "
                          f"{exc.response['Error'].get('Message', '')} ({still_billing(resource)})")
        except TeardownIncomplete as exc:
            failed.append(f"{resource.kind} {resource.name}: {exc} ({still_billing(resource)})")
    if failed:
        raise TeardownIncomplete("not removed (run teardown again once they settle):\n  " + "\n  ".join(failed))
    return found
