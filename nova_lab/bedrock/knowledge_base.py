"""Step 02 on Bedrock: a knowledge base over the corpus in S3, on S3 Vectors, ingested with progress.

Every piece (vector bucket, index, knowledge base, data source) is found by name and reused,
so a second run re-ingests into the same knowledge base instead of building a twin. The
chunking strategy is a parameter; fixed-size chunks take the offline chunk size and overlap,
so the two backends cut the corpus alike.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from tqdm.auto import tqdm

from nova_lab.bedrock.polling import poll
from nova_lab.bedrock.resources import TAG_KEY, Clients, Resource, pages, request_token, resource_name
from nova_lab.bedrock.study_data import corpus_prefix
from nova_lab.knowledge_base import Mode
from nova_lab.params import BedrockSettings

EMBEDDING_DIMENSIONS = 1024
SEARCHABLE_ONLY = ["AMAZON_BEDROCK_TEXT", "AMAZON_BEDROCK_METADATA"]  # Bedrock's own keys: not filterable


class IngestionFailed(RuntimeError):
    """The ingestion job ended in FAILED or STOPPED; its reasons are in the message."""


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


def ensure_vector_index(clients: Clients, settings: BedrockSettings) -> str:
    """An S3 Vectors bucket and cosine index for Titan v2 vectors; returns the index ARN."""
    bucket = resource_name(settings, "vectors")
    known = {b["vectorBucketName"] for b in pages(clients.s3vectors, "list_vector_buckets", "vectorBuckets", prefix=bucket)}
    if bucket not in known:
        clients.s3vectors.create_vector_bucket(vectorBucketName=bucket, tags={TAG_KEY: settings.study_tag})
    indexes = {i["indexName"]: i["indexArn"] for i in pages(clients.s3vectors, "list_indexes", "indexes", vectorBucketName=bucket)}
    if "corpus" in indexes:
        return indexes["corpus"]
    return clients.s3vectors.create_index(
        vectorBucketName=bucket, indexName="corpus", dataType="float32", dimension=EMBEDDING_DIMENSIONS,
        distanceMetric="cosine", metadataConfiguration={"nonFilterableMetadataKeys": SEARCHABLE_ONLY})["indexArn"]


def s3_vectors_storage(index_arn: str) -> dict[str, Any]:
    return {"type": "S3_VECTORS", "s3VectorsConfiguration": {"indexArn": index_arn}}


def ensure_knowledge_base(clients: Clients, settings: BedrockSettings, storage: dict[str, Any]) -> Resource:
    """The study's knowledge base over `storage` (S3 Vectors or OpenSearch Serverless), reused when it exists."""
    name = resource_name(settings, "kb")
    for summary in pages(clients.bedrock_agent, "list_knowledge_bases", "knowledgeBaseSummaries"):
        if summary["name"] == name and summary["status"] not in ("DELETING", "FAILED", "DELETE_UNSUCCESSFUL"):
            return Resource("knowledge-base", name, summary["knowledgeBaseId"], reused=True)
    embedding_arn = f"arn:aws:bedrock:{settings.region}::foundation-model/{settings.embedding_model}"
    created = clients.bedrock_agent.create_knowledge_base(
        name=name, roleArn=settings.role_arn, clientToken=request_token(name), tags={TAG_KEY: settings.study_tag},
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": embedding_arn}},
        storageConfiguration=storage)
    return Resource("knowledge-base", name, created["knowledgeBase"]["knowledgeBaseId"])


def ensure_data_source(clients: Clients, settings: BedrockSettings, knowledge_base_id: str, run_name: str,
                       chunk_tokens: int, chunk_overlap: int) -> Resource:
    """The run's corpus prefix as the knowledge base's source, chunked as the params say."""
    name = resource_name(settings, run_name, settings.chunking.lower(), f"{chunk_tokens}-{chunk_overlap}")
    for summary in pages(clients.bedrock_agent, "list_data_sources", "dataSourceSummaries", knowledgeBaseId=knowledge_base_id):
        if summary["name"] == name:
            return Resource("data-source", name, summary["dataSourceId"], reused=True)
    created = clients.bedrock_agent.create_data_source(
        knowledgeBaseId=knowledge_base_id, name=name, clientToken=request_token(name), dataDeletionPolicy="DELETE",
        dataSourceConfiguration={"type": "S3", "s3Configuration": {
            "bucketArn": f"arn:aws:s3:::{settings.bucket}",
            "inclusionPrefixes": [f"{settings.study_tag}/{corpus_prefix(run_name)}"]}},
        vectorIngestionConfiguration={"chunkingConfiguration": chunking_configuration(
            settings.chunking, chunk_tokens, chunk_overlap)})
    return Resource("data-source", name, created["dataSource"]["dataSourceId"])


def _running_ingestion(clients: Clients, knowledge_base_id: str, data_source_id: str) -> str | None:
    running = clients.bedrock_agent.list_ingestion_jobs(
        knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS"]}])
    jobs = running.get("ingestionJobSummaries", [])
    return jobs[0]["ingestionJobId"] if jobs else None


def ingest(clients: Clients, knowledge_base_id: str, data_source_id: str,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, int]:
    """Wait, with back-off and a progress bar, for the data source's ingestion job: the one still
    running (a notebook stopped while it waited) or a new one; returns its statistics."""
    job_id = _running_ingestion(clients, knowledge_base_id, data_source_id) or clients.bedrock_agent.start_ingestion_job(
        knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id)["ingestionJob"]["ingestionJobId"]
    def fetch() -> dict[str, Any]:
        return clients.bedrock_agent.get_ingestion_job(
            knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id, ingestionJobId=job_id)["ingestionJob"]

    with tqdm(desc="ingestion", unit="doc") as bar:
        for job in poll(fetch, 5.0, 60.0, sleep):
            statistics = job.get("statistics", {})
            bar.n = statistics.get("numberOfDocumentsScanned", 0)
            bar.set_postfix(status=job["status"], refresh=True)
            if job["status"] == "COMPLETE":
                return statistics
            if job["status"] in ("FAILED", "STOPPED"):
                raise IngestionFailed(f"ingestion job {job_id} {job['status']}: {job.get('failureReasons', [])}")
