"""Teardown: everything of a study that costs money, found by its tag, removed in dependency order.

A delete is waited for before what depends on it goes (a deployment before its custom model, a
knowledge base before the vector store it writes to, a collection before its policies), and
whatever could not be removed is reported with what it still bills. A study's batch inference
and evaluation jobs still running are stopped first, and waited for, so none writes output after its bucket is
emptied.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from botocore.exceptions import ClientError

from nova_lab.bedrock import batch, evaluation
from nova_lab.bedrock.polling import poll
from nova_lab.bedrock.resources import TAG_KEY, Clients, Resource, collection_name, if_exists, pages, vector_bucket_name
from nova_lab.core.params import BedrockSettings
from nova_lab.costing import pricing


def _tagged(client: Any, arn: str, settings: BedrockSettings) -> bool:
    tags = client.list_tags_for_resource(resourceARN=arn).get("tags", [])
    return {"key": TAG_KEY, "value": settings.study_tag} in tags


def study_resources(clients: Clients, settings: BedrockSettings) -> list[Resource]:
    """Everything of this study that costs money, found by tag, in the order teardown removes it."""
    found = [Resource("batch-job", j["jobName"], j["jobArn"])  # named after the study tag: listed by it
             for j in pages(clients.bedrock, "list_model_invocation_jobs", "invocationJobSummaries",
                            nameContains=settings.study_tag)
             if j["status"] in batch.RUNNING and _tagged(clients.bedrock, j["jobArn"], settings)]
    found += [Resource("evaluation-job", j["jobName"], j["jobArn"])
              for j in pages(clients.bedrock, "list_evaluation_jobs", "jobSummaries", nameContains=settings.study_tag)
              if j["status"] in evaluation.RUNNING and _tagged(clients.bedrock, j["jobArn"], settings)]
    found += [Resource("provisioned-throughput", p["provisionedModelName"], p["provisionedModelArn"])
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
    vectors = vector_bucket_name(settings)
    found += [Resource("vector-bucket", b["vectorBucketName"], b["vectorBucketName"])
              for b in clients.s3vectors.list_vector_buckets(prefix=vectors).get("vectorBuckets", [])
              if b["vectorBucketName"] == vectors]
    return found + _collections(clients, settings) + _study_storage(clients, settings)


def _collections(clients: Clients, settings: BedrockSettings) -> list[Resource]:
    name = collection_name(settings)
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


def _running(describe: Callable[[], dict[str, Any]], in_flight: tuple[str, ...]) -> dict[str, Any] | None:
    """A job while it may still write output (stopping takes a while); None once it has ended."""
    job = describe()
    return job if job["status"] in in_flight else None


def _delete(clients: Clients, resource: Resource, sleep: Callable[[float], None] = time.sleep) -> None:
    if resource.kind == "batch-job":  # billed for the records it processed; its output stays until the bucket goes
        clients.bedrock.stop_model_invocation_job(jobIdentifier=resource.identifier)
        _wait_until_gone(lambda: _running(lambda: clients.bedrock.get_model_invocation_job(
            jobIdentifier=resource.identifier), batch.IN_FLIGHT), sleep)
    elif resource.kind == "evaluation-job":  # billed for the evaluator's tokens so far
        clients.bedrock.stop_evaluation_job(jobIdentifier=resource.identifier)
        _wait_until_gone(lambda: _running(lambda: clients.bedrock.get_evaluation_job(
            jobIdentifier=resource.identifier), evaluation.IN_FLIGHT), sleep)
    elif resource.kind == "provisioned-throughput":
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
    "batch-job": lambda: "each record it still processes, at the batch price",
    "evaluation-job": lambda: "the evaluator's tokens for each answer it still grades",
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
