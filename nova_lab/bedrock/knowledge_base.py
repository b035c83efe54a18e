"""Step 02 on Bedrock: a knowledge base over the corpus in S3, on S3 Vectors, ingested with progress.

Every piece (vector bucket, index, knowledge base, data source) is found by name and reused,
so a second run re-ingests into the same knowledge base instead of building a twin; one found
with other settings (most are immutable) stops the run with the difference and the way out.
Each new piece is waited for until ready (for at most its `bedrock.wait_hours`;
any failed status stops at once) before the next is built on it. The
chunking strategy is a parameter; fixed-size chunks take the offline chunk size and overlap,
so the two backends cut the corpus alike.
"""

from __future__ import annotations

from typing import Any, Callable

from tqdm.auto import tqdm

from nova_lab.bedrock.polling import CONSOLES, Limit, RunStopped, poll
from nova_lab.bedrock.resources import (
    TAG_KEY,
    Clients,
    Resource,
    data_source_name,
    if_exists,
    knowledge_base_name,
    pages,
    vector_bucket_name,
)
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.study_data import corpus_prefix
from nova_lab.bedrock.tokens import request_token
from nova_lab.core.bedrock_models import EMBEDDING_DIMENSIONS
from nova_lab.core.params import BedrockSettings
from nova_lab.retrieval.knowledge_base import Mode

SEARCHABLE_ONLY = ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"]  # Bedrock's own keys: not filterable


class IngestionFailed(RunStopped):
    """The ingestion job ended FAILED or STOPPED, or COMPLETE with failed documents; its reasons are in the message."""


class ResourceMismatch(RunStopped):
    """A resource with the study's name exists with other settings; reusing it would mix two set-ups."""


class ResourceFailed(RunStopped):
    """A new knowledge base or data source ended in a failed state instead of becoming ready."""


def _mismatch(what: str, differences: dict[str, tuple[Any, Any]]) -> ResourceMismatch:
    shown = "; ".join(f"{key}: has {found!r}, the params want {wanted!r}" for key, (found, wanted) in differences.items())
    return ResourceMismatch(f"{what} exists with other settings ({shown}); run `nova-lab teardown` for this "
                            f"study_tag, or set another `bedrock.study_tag`")


def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {key: (found.get(key), value) for key, value in wanted.items() if found.get(key) != value}


# Every status of the service model's enum that never becomes ready: stop at once, not at the time limit.
KNOWLEDGE_BASE_FAILED = ("FAILED", "UPDATE_UNSUCCESSFUL", "DELETE_UNSUCCESSFUL", "DELETING")
DATA_SOURCE_FAILED = ("FAILED", "DELETE_UNSUCCESSFUL", "DELETING")


def wait_until_ready(describe: Callable[[], dict[str, Any] | None], ready: str, failed: tuple[str, ...], limit: Limit,
                     sleep: Callable[[float], None], first_delay: float = 5.0) -> dict[str, Any]:
    """Poll a new resource until `ready`, for at most its limit; "not found" (a first poll right after the
    create) counts as not yet."""
    for state in poll(describe, first_delay, 30.0, sleep, limit):
        status = (state or {}).get("status")
        if status == ready:
            return state
        if status in failed:
            raise ResourceFailed(f"{limit.what} is {status}: {'; '.join(state.get('failureReasons', []))} (see "
                           f"{CONSOLES[limit.kind]}); run `nova-lab teardown` and run again")


def search_modes(settings: BedrockSettings) -> tuple[Mode, ...]:
    """The offline search modes the store offers, best first: S3 Vectors searches by vector only,
    OpenSearch Serverless also by hybrid search (the offline study's RAG search)."""
    return ("vector",) if settings.vector_store == "s3_vectors" else ("hybrid", "vector")


def chunking_configuration(strategy: str, chunk_tokens: int, chunk_overlap: int) -> dict[str, Any]:
    """Bedrock's chunking settings for a strategy, sized like the offline chunks."""
    config: dict[str, Any] = {"chunkingStrategy": strategy}
    if strategy == "FIXED_SIZE":
        config["fixedSizeChunkingConfiguration"] = {
            "maxTokens": chunk_tokens, "overlapPercentage": max(1, round(100 * chunk_overlap / chunk_tokens))}
    elif strategy == "HIERARCHICAL":
        config["hierarchicalChunkingConfiguration"] = {
            "levelConfigurations": [{"maxTokens": 4 * chunk_tokens}, {"maxTokens": chunk_tokens}],
            "overlapTokens": max(1, chunk_overlap)}
    elif strategy == "SEMANTIC":
        config["semanticChunkingConfiguration"] = {"maxTokens": chunk_tokens, "bufferSize": 0,
                                                   "breakpointPercentileThreshold": 95}
    return config


def ensure_vector_index(run: BedrockRun) -> str:
    """An S3 Vectors bucket and cosine index for Titan v2 vectors; returns the index ARN."""
    clients, settings = run.clients, run.settings
    bucket = vector_bucket_name(settings)
    known = {b["vectorBucketName"] for b in pages(clients.s3vectors, "list_vector_buckets", "vectorBuckets", prefix=bucket)}
    if bucket not in known:
        clients.s3vectors.create_vector_bucket(vectorBucketName=bucket, tags={TAG_KEY: settings.study_tag})
    wanted = {"dataType": "float32", "dimension": EMBEDDING_DIMENSIONS, "distanceMetric": "cosine",
              "metadataConfiguration": {"nonFilterableMetadataKeys": SEARCHABLE_ONLY}}
    indexes = {i["indexName"]: i["indexArn"] for i in pages(clients.s3vectors, "list_indexes", "indexes", vectorBucketName=bucket)}
    if "corpus" not in indexes:
        return clients.s3vectors.create_index(vectorBucketName=bucket, indexName="corpus", **wanted)["indexArn"]
    found = clients.s3vectors.get_index(vectorBucketName=bucket, indexName="corpus")["index"]
    found["metadataConfiguration"] = {"nonFilterableMetadataKeys": sorted(
        found.get("metadataConfiguration", {}).get("nonFilterableMetadataKeys", []))}
    wanted["metadataConfiguration"]["nonFilterableMetadataKeys"] = sorted(SEARCHABLE_ONLY)
    if differences := _differences(found, wanted):  # all immutable once the index exists
        raise _mismatch(f"S3 Vectors index {bucket}/corpus", differences)
    return indexes["corpus"]


def s3_vectors_storage(index_arn: str) -> dict[str, Any]:
    return {"type": "S3_VECTORS", "s3VectorsConfiguration": {"indexArn": index_arn}}


def store_identity(storage: dict[str, Any] | None) -> tuple[str, ...]:
    """Which store a storage configuration names: the S3 Vectors index ARN (GetKnowledgeBase may echo it as
    bucket ARN and index name), or the OpenSearch collection ARN and index name. Compared instead of the
    whole dict, so a normalised echo of the same store does not stop a resumed step 02."""
    storage = storage or {}
    if "s3VectorsConfiguration" in storage:
        found = storage["s3VectorsConfiguration"]
        return ("S3_VECTORS", found.get("indexArn") or f"{found.get('vectorBucketArn')}/index/{found.get('indexName')}")
    found = storage.get("opensearchServerlessConfiguration", {})
    return (str(storage.get("type")), str(found.get("collectionArn")), str(found.get("vectorIndexName")))


def _describe_knowledge_base(clients: Clients, knowledge_base_id: str) -> dict[str, Any] | None:
    found = if_exists(clients.bedrock_agent.get_knowledge_base, knowledgeBaseId=knowledge_base_id)
    return found and found["knowledgeBase"]


def ensure_knowledge_base(run: BedrockRun, storage: dict[str, Any]) -> Resource:
    """The study's knowledge base over `storage` (S3 Vectors or OpenSearch Serverless), reused when it exists
    with the same store and embedding model; returned once ACTIVE, so a data source can be added to it."""
    clients, settings = run.clients, run.settings
    name = knowledge_base_name(settings)
    embedding_arn = f"arn:aws:bedrock:{settings.region}::foundation-model/{settings.embedding_model}"
    configuration = {"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": embedding_arn}}
    resource = None
    for summary in pages(clients.bedrock_agent, "list_knowledge_bases", "knowledgeBaseSummaries"):
        if summary["name"] == name and summary["status"] not in ("DELETING", "FAILED", "DELETE_UNSUCCESSFUL"):
            found = _describe_knowledge_base(clients, summary["knowledgeBaseId"]) or {}
            embedding = found.get("knowledgeBaseConfiguration", {}).get("vectorKnowledgeBaseConfiguration", {})
            if differences := _differences(
                    {"vector store": store_identity(found.get("storageConfiguration")),
                     "embeddingModelArn": embedding.get("embeddingModelArn")},
                    {"vector store": store_identity(storage), "embeddingModelArn": embedding_arn}):
                raise _mismatch(f"knowledge base {name}", differences)
            resource = Resource("knowledge-base", name, summary["knowledgeBaseId"], reused=True)
    if resource is None:
        request = dict(name=name, roleArn=settings.role_arn, tags={TAG_KEY: settings.study_tag},
                       knowledgeBaseConfiguration=configuration, storageConfiguration=storage)
        created = clients.bedrock_agent.create_knowledge_base(
            **request, clientToken=request_token(name, request, clients.nonce))
        resource = Resource("knowledge-base", name, created["knowledgeBase"]["knowledgeBaseId"])
    wait_until_ready(lambda: _describe_knowledge_base(clients, resource.identifier), "ACTIVE", KNOWLEDGE_BASE_FAILED,
                     Limit.of(settings, "knowledge_base", f"knowledge base {name}"), run.sleep)
    return resource


def _describe_data_source(clients: Clients, knowledge_base_id: str, data_source_id: str) -> dict[str, Any] | None:
    found = if_exists(clients.bedrock_agent.get_data_source, knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id)
    return found and found["dataSource"]


def ensure_data_source(run: BedrockRun, knowledge_base_id: str, chunk_tokens: int, chunk_overlap: int) -> Resource:
    """The run's corpus prefix as the knowledge base's source, chunked as the params say. Another data
    source on the same prefix (other chunking) stops the run: Retrieve would return chunks cut two ways."""
    clients, settings, run_name = run.clients, run.settings, run.name
    name = data_source_name(settings, run_name, chunk_tokens, chunk_overlap)
    source = {"type": "S3", "s3Configuration": {"bucketArn": f"arn:aws:s3:::{settings.bucket}",
                                                "inclusionPrefixes": [f"{settings.study_tag}/{corpus_prefix(run_name)}"]}}
    chunking = chunking_configuration(settings.chunking, chunk_tokens, chunk_overlap)
    resource = None
    for summary in pages(clients.bedrock_agent, "list_data_sources", "dataSourceSummaries", knowledgeBaseId=knowledge_base_id):
        found = _describe_data_source(clients, knowledge_base_id, summary["dataSourceId"]) or {}
        if found.get("dataSourceConfiguration", {}).get("s3Configuration", {}).get("inclusionPrefixes") != \
                source["s3Configuration"]["inclusionPrefixes"]:
            continue  # another run's corpus
        found_chunking = found.get("vectorIngestionConfiguration", {}).get("chunkingConfiguration")
        if summary["name"] != name or found_chunking != chunking:
            raise _mismatch(f"data source {summary['name']} on the same corpus prefix",
                            {"chunkingConfiguration": (found_chunking, chunking)})
        resource = Resource("data-source", name, summary["dataSourceId"], reused=True)
    if resource is None:
        request = dict(knowledgeBaseId=knowledge_base_id, name=name, dataDeletionPolicy="DELETE",
                       dataSourceConfiguration=source, vectorIngestionConfiguration={"chunkingConfiguration": chunking})
        created = clients.bedrock_agent.create_data_source(**request, clientToken=request_token(name, request, clients.nonce))
        resource = Resource("data-source", name, created["dataSource"]["dataSourceId"])
    wait_until_ready(lambda: _describe_data_source(clients, knowledge_base_id, resource.identifier), "AVAILABLE",
                     DATA_SOURCE_FAILED, Limit.of(settings, "data_source", f"data source {name}"), run.sleep)
    return resource


def _running_ingestion(clients: Clients, knowledge_base_id: str, data_source_id: str) -> str | None:
    running = clients.bedrock_agent.list_ingestion_jobs(
        knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS"]}])
    jobs = running.get("ingestionJobSummaries", [])
    return jobs[0]["ingestionJobId"] if jobs else None


def ingest(run: BedrockRun, knowledge_base_id: str, data_source_id: str) -> dict[str, int]:
    """Wait, with back-off and a progress bar, for the data source's ingestion job: the one still
    running (a notebook stopped while it waited) or a new one; returns its statistics. A job that
    ends COMPLETE with failed documents stops the run too: RAG would silently search part of the corpus."""
    clients = run.clients
    job_id = _running_ingestion(clients, knowledge_base_id, data_source_id) or clients.bedrock_agent.start_ingestion_job(
        knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id)["ingestionJob"]["ingestionJobId"]
    what = f"ingestion job {job_id} of knowledge base {knowledge_base_id}"

    def fetch() -> dict[str, Any]:
        return clients.bedrock_agent.get_ingestion_job(
            knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id, ingestionJobId=job_id)["ingestionJob"]

    with tqdm(desc="ingestion", unit="doc") as bar:
        for job in poll(fetch, 5.0, 60.0, run.sleep, Limit.of(run.settings, "ingestion", what)):
            statistics = job.get("statistics", {})
            bar.n = statistics.get("numberOfDocumentsScanned", 0)
            bar.set_postfix(status=job["status"], refresh=True)
            failed = statistics.get("numberOfDocumentsFailed", 0)
            if job["status"] == "COMPLETE" and not failed:
                return statistics
            if job["status"] in ("COMPLETE", "FAILED", "STOPPED"):
                raise _ingestion_failed(what, job, failed, statistics.get("numberOfDocumentsScanned", 0))


def _ingestion_failed(what: str, job: dict[str, Any], failed: int, scanned: int) -> IngestionFailed:
    reasons = "; ".join(job.get("failureReasons", [])[:3]) or "no reason given"
    counts = f" with {failed} of {scanned} document(s) failed" if failed else ""
    return IngestionFailed(f"{what} ended {job['status']}{counts}: {reasons} "
                           f"(all of them in {CONSOLES['ingestion']}); fix what they say and run step 02 again: it "
                           f"ingests into the same knowledge base")
