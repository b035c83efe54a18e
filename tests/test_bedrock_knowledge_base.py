"""Step 02 on Bedrock, checked request by request against the service models (Stubber):
S3 Vectors index, knowledge base, data source with each chunking strategy, ingestion, teardown."""

import boto3
import pytest
from botocore.stub import ANY, Stubber

from nova_lab.bedrock import knowledge_base as kb
from nova_lab.bedrock import polling, resources, teardown
from nova_lab.bedrock.resources import TAG_KEY, Clients
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.core.params import BedrockSettings, WaitHours

SETTINGS = BedrockSettings(bucket="nova-lab-test-bucket", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                           study_tag="unit", max_usd=10)
INDEX_ARN = "arn:aws:s3vectors:us-east-1:123456789012:bucket/unit-vectors/index/corpus"
KB_ARN = "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345678"
NOW = "2026-11-25T00:00:00Z"


@pytest.fixture
def stubs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    agent = boto3.client("bedrock-agent", region_name="us-east-1")
    vectors = boto3.client("s3vectors", region_name="us-east-1")
    with Stubber(agent) as agent_stub, Stubber(vectors) as vector_stub:
        yield Clients(None, None, agent, vectors), agent_stub, vector_stub
        agent_stub.assert_no_pending_responses()
        vector_stub.assert_no_pending_responses()


def kb_summary(status="ACTIVE"):
    return {"knowledgeBaseId": "KB12345678", "name": "unit-kb", "status": status, "updatedAt": NOW}


STORAGE = {"type": "S3_VECTORS", "s3VectorsConfiguration": {"indexArn": INDEX_ARN}}
EMBEDDING = {"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
    "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"}}


def described(status="ACTIVE", storage=STORAGE, reasons=()):
    return {"knowledgeBase": {
        "knowledgeBaseId": "KB12345678", "knowledgeBaseArn": KB_ARN, "name": "unit-kb", "roleArn": SETTINGS.role_arn,
        "knowledgeBaseConfiguration": EMBEDDING, "storageConfiguration": storage, "status": status,
        "createdAt": NOW, "updatedAt": NOW, **({"failureReasons": list(reasons)} if reasons else {})}}


def no_sleep(seconds):
    return None


def limited(**hours):
    """The test settings with some waits limited to `hours`."""
    return SETTINGS.model_copy(update={"wait_hours": WaitHours(**hours)})


def test_vector_index_then_knowledge_base_are_created_once_and_waited_for(stubs):
    clients, agent, vectors = stubs
    vectors.add_response("list_vector_buckets", {"vectorBuckets": []}, {"prefix": "unit-vectors"})
    vectors.add_response("create_vector_bucket", {"vectorBucketArn": "arn:aws:s3vectors:us-east-1:123456789012:bucket/unit-vectors"},
                         {"vectorBucketName": "unit-vectors", "tags": {TAG_KEY: "unit"}})
    vectors.add_response("list_indexes", {"indexes": []}, {"vectorBucketName": "unit-vectors"})
    vectors.add_response("create_index", {"indexArn": INDEX_ARN}, {
        "vectorBucketName": "unit-vectors", "indexName": "corpus", "dataType": "float32", "dimension": 1024,
        "distanceMetric": "cosine", "metadataConfiguration": {"nonFilterableMetadataKeys": kb.SEARCHABLE_ONLY}})
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": []}, {})
    agent.add_response("create_knowledge_base", described("CREATING"), {
        "name": "unit-kb", "roleArn": SETTINGS.role_arn, "clientToken": ANY, "tags": {TAG_KEY: "unit"},
        "knowledgeBaseConfiguration": EMBEDDING, "storageConfiguration": STORAGE})
    # the first poll may not find it yet: that is "not yet", not an error
    agent.add_client_error("get_knowledge_base", "ResourceNotFoundException", http_status_code=404)
    agent.add_response("get_knowledge_base", described("CREATING"), {"knowledgeBaseId": "KB12345678"})
    agent.add_response("get_knowledge_base", described("ACTIVE"), {"knowledgeBaseId": "KB12345678"})
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": [kb_summary()]}, {})
    agent.add_response("get_knowledge_base", described("ACTIVE"), {"knowledgeBaseId": "KB12345678"})  # its settings
    agent.add_response("get_knowledge_base", described("ACTIVE"), {"knowledgeBaseId": "KB12345678"})  # ready
    slept = []
    assert kb.ensure_vector_index(BedrockRun(clients, SETTINGS, "unit")) == INDEX_ARN
    assert not kb.ensure_knowledge_base(BedrockRun(clients, SETTINGS, "unit", slept.append), kb.s3_vectors_storage(INDEX_ARN)).reused
    assert slept == [5.0, 7.5]  # the data source is added only once it is ACTIVE
    assert kb.ensure_knowledge_base(BedrockRun(clients, SETTINGS, "unit", slept.append), kb.s3_vectors_storage(INDEX_ARN)).reused


def test_a_knowledge_base_on_another_vector_store_is_not_reused(stubs):
    clients, agent, _ = stubs
    collection = {"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
        "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/abc", "vectorIndexName": "corpus",
        "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}}
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": [kb_summary()]}, {})
    agent.add_response("get_knowledge_base", described("ACTIVE", storage=collection), {"knowledgeBaseId": "KB12345678"})
    with pytest.raises(kb.ResourceMismatch, match=r"knowledge base unit-kb exists with other settings \(vector store.*"
                                                   r"OPENSEARCH_SERVERLESS.*S3_VECTORS.*nova-lab teardown.*study_tag"):
        kb.ensure_knowledge_base(BedrockRun(clients, SETTINGS, "unit", lambda s: None), STORAGE)


def index_listed(vectors):
    vectors.add_response("list_vector_buckets", {"vectorBuckets": [{
        "vectorBucketName": "unit-vectors", "vectorBucketArn": "arn:aws:s3vectors:us-east-1:123456789012:bucket/unit-vectors",
        "creationTime": NOW}]}, {"prefix": "unit-vectors"})
    vectors.add_response("list_indexes", {"indexes": [{
        "vectorBucketName": "unit-vectors", "indexName": "corpus", "indexArn": INDEX_ARN, "creationTime": NOW}]},
        {"vectorBucketName": "unit-vectors"})


def index(dimension=1024, keys=("AMAZON_BEDROCK_METADATA", "AMAZON_BEDROCK_TEXT")):
    return {"index": {"vectorBucketName": "unit-vectors", "indexName": "corpus", "indexArn": INDEX_ARN, "creationTime": NOW,
                      "dataType": "float32", "dimension": dimension, "distanceMetric": "cosine",
                      "metadataConfiguration": {"nonFilterableMetadataKeys": list(keys)}}}


def test_an_existing_index_is_reused_only_with_the_same_dimension_metric_and_keys(stubs):
    clients, _, vectors = stubs
    index_listed(vectors)
    vectors.add_response("get_index", index(), {"vectorBucketName": "unit-vectors", "indexName": "corpus"})
    assert kb.ensure_vector_index(BedrockRun(clients, SETTINGS, "unit")) == INDEX_ARN  # keys in another order: the same index
    index_listed(vectors)
    vectors.add_response("get_index", index(dimension=512, keys=("AMAZON_BEDROCK_TEXT",)),
                         {"vectorBucketName": "unit-vectors", "indexName": "corpus"})
    with pytest.raises(kb.ResourceMismatch, match="dimension: has 512, the params want 1024.*nonFilterableMetadataKeys"):
        kb.ensure_vector_index(BedrockRun(clients, SETTINGS, "unit"))


def data_source(name, strategy, tokens=200, overlap=30, prefix="unit/smoke/corpus/", status="AVAILABLE", reasons=()):
    return {"dataSource": {
        "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "name": name, "status": status,
        "dataSourceConfiguration": {"type": "S3", "s3Configuration": {
            "bucketArn": "arn:aws:s3:::nova-lab-test-bucket", "inclusionPrefixes": [prefix]}},
        "vectorIngestionConfiguration": {"chunkingConfiguration": kb.chunking_configuration(strategy, tokens, overlap)},
        "createdAt": NOW, "updatedAt": NOW, **({"failureReasons": list(reasons)} if reasons else {})}}


@pytest.mark.parametrize("strategy", ["FIXED_SIZE", "HIERARCHICAL", "SEMANTIC", "NONE"])
def test_data_source_takes_each_chunking_strategy(stubs, strategy):
    clients, agent, _ = stubs
    settings = SETTINGS.model_copy(update={"chunking": strategy})
    name = f"unit-smoke-{strategy.lower().replace('_', '-')}-200-30"
    ids = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678"}
    agent.add_response("list_data_sources", {"dataSourceSummaries": []}, {"knowledgeBaseId": "KB12345678"})
    agent.add_response("create_data_source", data_source(name, strategy), {
        "knowledgeBaseId": "KB12345678", "name": name, "clientToken": ANY, "dataDeletionPolicy": "DELETE",
        "dataSourceConfiguration": {"type": "S3", "s3Configuration": {
            "bucketArn": "arn:aws:s3:::nova-lab-test-bucket", "inclusionPrefixes": ["unit/smoke/corpus/"]}},
        "vectorIngestionConfiguration": {"chunkingConfiguration": kb.chunking_configuration(strategy, 200, 30)}})
    agent.add_client_error("get_data_source", "ResourceNotFoundException", http_status_code=404)  # not yet
    agent.add_response("get_data_source", data_source(name, strategy), ids)
    assert kb.ensure_data_source(BedrockRun(clients, settings, "smoke", lambda s: None), "KB12345678", 200, 30).identifier == "DS12345678"


def test_a_second_chunking_on_the_same_corpus_stops_the_run(stubs):
    clients, agent, _ = stubs
    ids = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678"}
    agent.add_response("list_data_sources", {"dataSourceSummaries": [{
        "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "name": "unit-smoke-fixed-size-300-20",
        "status": "AVAILABLE", "updatedAt": NOW}]}, {"knowledgeBaseId": "KB12345678"})
    agent.add_response("get_data_source", data_source("unit-smoke-fixed-size-300-20", "FIXED_SIZE", 300, 20), ids)
    with pytest.raises(kb.ResourceMismatch, match="data source unit-smoke-fixed-size-300-20 on the same corpus prefix"):
        kb.ensure_data_source(BedrockRun(clients, SETTINGS, "smoke", lambda s: None), "KB12345678", 200, 30)


def test_fixed_size_chunks_match_the_offline_ones():
    assert kb.chunking_configuration("FIXED_SIZE", 200, 30) == {
        "chunkingStrategy": "FIXED_SIZE", "fixedSizeChunkingConfiguration": {"maxTokens": 200, "overlapPercentage": 15}}


def ingestion(status, scanned, failed=None, reasons=()):
    return {"ingestionJob": {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "ingestionJobId": "IJ12345678",
                             "status": status, "startedAt": NOW, "updatedAt": NOW,
                             "statistics": {"numberOfDocumentsScanned": scanned,
                                            **({"numberOfDocumentsFailed": failed} if failed is not None else {})},
                             **({"failureReasons": list(reasons)} if reasons else {})}}


RUNNING = [{"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS"]}]


def test_ingestion_is_polled_with_growing_delays_until_complete(stubs):
    clients, agent, _ = stubs
    ids = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678"}
    agent.add_response("list_ingestion_jobs", {"ingestionJobSummaries": []}, {**ids, "filters": RUNNING})
    agent.add_response("start_ingestion_job", ingestion("STARTING", 0), ids)
    for status, scanned in (("IN_PROGRESS", 10), ("IN_PROGRESS", 60), ("COMPLETE", 100)):
        agent.add_response("get_ingestion_job", ingestion(status, scanned), {**ids, "ingestionJobId": "IJ12345678"})
    slept = []
    assert kb.ingest(BedrockRun(clients, SETTINGS, "unit", slept.append), "KB12345678", "DS12345678") == {"numberOfDocumentsScanned": 100}
    assert slept == [5.0, 7.5]


def test_a_running_ingestion_is_waited_for_not_started_again(stubs):
    clients, agent, _ = stubs
    ids = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678"}
    running = {key: ingestion("IN_PROGRESS", 40)["ingestionJob"][key]
               for key in ("knowledgeBaseId", "dataSourceId", "ingestionJobId", "status", "startedAt", "updatedAt")}
    agent.add_response("list_ingestion_jobs", {"ingestionJobSummaries": [running]}, {**ids, "filters": RUNNING})
    agent.add_response("get_ingestion_job", ingestion("COMPLETE", 100), {**ids, "ingestionJobId": "IJ12345678"})
    assert kb.ingest(BedrockRun(clients, SETTINGS, "unit", lambda s: None), "KB12345678", "DS12345678") == {"numberOfDocumentsScanned": 100}
    # the Stubber fails any StartIngestionJob: none was queued


def test_failed_ingestion_says_why(stubs):
    clients, agent, _ = stubs
    agent.add_response("list_ingestion_jobs", {"ingestionJobSummaries": []})
    agent.add_response("start_ingestion_job", ingestion("STARTING", 0))
    failed = ingestion("FAILED", 3)
    failed["ingestionJob"]["failureReasons"] = ["AccessDenied on s3://nova-lab-test-bucket"]
    agent.add_response("get_ingestion_job", failed)
    with pytest.raises(kb.IngestionFailed, match="AccessDenied"):
        kb.ingest(BedrockRun(clients, SETTINGS, "unit", lambda s: None), "KB12345678", "DS12345678")


def test_teardown_removes_the_knowledge_base_its_sources_and_vectors(stubs):
    clients, agent, vectors = stubs
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": [kb_summary()]}, {})
    agent.add_response("get_knowledge_base", {"knowledgeBase": {
        "knowledgeBaseId": "KB12345678", "knowledgeBaseArn": KB_ARN, "name": "unit-kb", "roleArn": SETTINGS.role_arn,
        "knowledgeBaseConfiguration": {"type": "VECTOR"}, "status": "ACTIVE", "createdAt": NOW, "updatedAt": NOW}},
        {"knowledgeBaseId": "KB12345678"})
    agent.add_response("list_tags_for_resource", {"tags": {TAG_KEY: "unit"}}, {"resourceArn": KB_ARN})
    vectors.add_response("list_vector_buckets", {"vectorBuckets": [{
        "vectorBucketName": "unit-vectors", "vectorBucketArn": "arn:aws:s3vectors:us-east-1:123456789012:bucket/unit-vectors",
        "creationTime": NOW}]}, {"prefix": "unit-vectors"})
    agent.add_response("list_data_sources", {"dataSourceSummaries": [{
        "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "name": "unit-corpus-fixed-size",
        "status": "AVAILABLE", "updatedAt": NOW}]}, {"knowledgeBaseId": "KB12345678"})
    agent.add_response("delete_data_source", {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678",
                                              "status": "DELETING"}, {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678"})
    agent.add_response("delete_knowledge_base", {"knowledgeBaseId": "KB12345678", "status": "DELETING"},
                       {"knowledgeBaseId": "KB12345678"})
    deleting = {"knowledgeBaseId": "KB12345678", "knowledgeBaseArn": KB_ARN, "name": "unit-kb", "roleArn": SETTINGS.role_arn,
                "knowledgeBaseConfiguration": {"type": "VECTOR"}, "status": "DELETING", "createdAt": NOW, "updatedAt": NOW}
    agent.add_response("get_knowledge_base", {"knowledgeBase": deleting}, {"knowledgeBaseId": "KB12345678"})
    agent.add_client_error("get_knowledge_base", "ResourceNotFoundException", http_status_code=404)  # gone: then its vectors
    vectors.add_response("list_indexes", {"indexes": [{
        "vectorBucketName": "unit-vectors", "indexName": "corpus", "indexArn": INDEX_ARN, "creationTime": NOW}]},
        {"vectorBucketName": "unit-vectors"})
    vectors.add_response("delete_index", {}, {"vectorBucketName": "unit-vectors", "indexName": "corpus"})
    vectors.add_response("delete_vector_bucket", {}, {"vectorBucketName": "unit-vectors"})
    found = teardown._knowledge_bases(clients, SETTINGS)
    found += [resources.Resource("vector-bucket", b["vectorBucketName"], b["vectorBucketName"])
              for b in clients.s3vectors.list_vector_buckets(prefix="unit-vectors")["vectorBuckets"]]
    slept = []
    for resource in found:
        teardown._delete(clients, resource, sleep=slept.append)
    assert slept == [5.0]  # the vector bucket waited for the knowledge base to go
    assert [r.kind for r in found] == ["knowledge-base", "vector-bucket"]


@pytest.mark.parametrize("status", ["UPDATE_UNSUCCESSFUL", "FAILED", "DELETE_UNSUCCESSFUL"])
def test_a_knowledge_base_in_any_failed_status_stops_at_once_with_its_reasons(stubs, status):
    clients, agent, _ = stubs
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": []}, {})
    agent.add_response("create_knowledge_base", described("CREATING"), {
        "name": "unit-kb", "roleArn": SETTINGS.role_arn, "clientToken": ANY, "tags": {TAG_KEY: "unit"},
        "knowledgeBaseConfiguration": EMBEDDING, "storageConfiguration": STORAGE})
    agent.add_response("get_knowledge_base", described(status, reasons=["The vector index was not found"]),
                       {"knowledgeBaseId": "KB12345678"})
    with pytest.raises(kb.ResourceFailed, match=f"knowledge base unit-kb is {status}: The vector index was not found "
                                          r"\(see the Amazon Bedrock console, Knowledge Bases\); run `nova-lab teardown`"):
        kb.ensure_knowledge_base(BedrockRun(clients, SETTINGS, "unit", no_sleep), STORAGE)


def test_a_knowledge_base_wait_past_its_limit_names_it_its_status_and_the_console(stubs):
    clients, agent, _ = stubs
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": [kb_summary("UPDATING")]}, {})
    for _ in range(4):  # its settings, then 3 polls: 5 + 7.5 s slept, 11.25 more would pass the limit of 18 s
        agent.add_response("get_knowledge_base", described("UPDATING"), {"knowledgeBaseId": "KB12345678"})
    with pytest.raises(polling.WaitTimedOut, match=r"knowledge base unit-kb is still UPDATING after 0.005 h "
                                                   r"\(bedrock.wait_hours.knowledge_base\): look in the Amazon Bedrock "
                                                   r"console, Knowledge Bases; .*run the step again"):
        kb.ensure_knowledge_base(BedrockRun(clients, limited(knowledge_base=0.005), "unit", no_sleep), STORAGE)


def test_a_knowledge_base_echoing_its_index_by_bucket_and_name_is_the_same_store(stubs):
    """GetKnowledgeBase may name the S3 Vectors index by its bucket ARN and name: the same index, reused."""
    clients, agent, _ = stubs
    echoed = described(storage={"type": "S3_VECTORS", "s3VectorsConfiguration": {
        "vectorBucketArn": "arn:aws:s3vectors:us-east-1:123456789012:bucket/unit-vectors", "indexName": "corpus"}})
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": [kb_summary()]}, {})
    for _ in range(2):  # its settings, then ready
        agent.add_response("get_knowledge_base", echoed, {"knowledgeBaseId": "KB12345678"})
    assert kb.ensure_knowledge_base(BedrockRun(clients, SETTINGS, "unit", no_sleep), STORAGE).reused


@pytest.mark.parametrize("status", ["FAILED", "DELETE_UNSUCCESSFUL"])
def test_a_data_source_in_a_failed_status_stops_at_once_with_its_reasons(stubs, status):
    clients, agent, _ = stubs
    name = "unit-smoke-fixed-size-200-30"
    agent.add_response("list_data_sources", {"dataSourceSummaries": []}, {"knowledgeBaseId": "KB12345678"})
    agent.add_response("create_data_source", data_source(name, "FIXED_SIZE", status="CREATING"), {
        "knowledgeBaseId": "KB12345678", "name": name, "clientToken": ANY, "dataDeletionPolicy": "DELETE",
        "dataSourceConfiguration": ANY, "vectorIngestionConfiguration": ANY})
    agent.add_response("get_data_source", data_source(name, "FIXED_SIZE", status=status, reasons=["Access denied to "
                       "s3://nova-lab-test-bucket"]), {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678"})
    with pytest.raises(kb.ResourceFailed, match=f"data source {name} is {status}: Access denied"):
        kb.ensure_data_source(BedrockRun(clients, SETTINGS, "smoke", no_sleep), "KB12345678", 200, 30)


def started_ingestion(agent):
    ids = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678"}
    agent.add_response("list_ingestion_jobs", {"ingestionJobSummaries": []}, {**ids, "filters": RUNNING})
    agent.add_response("start_ingestion_job", ingestion("STARTING", 0), ids)
    return {**ids, "ingestionJobId": "IJ12345678"}


def test_an_ingestion_complete_with_failed_documents_stops_with_their_reasons(stubs):
    clients, agent, _ = stubs
    job = started_ingestion(agent)
    agent.add_response("get_ingestion_job", ingestion("COMPLETE", 100, 2, [
        "Encountered error: s3/PutObject.txt exceeds the size limit", "Encountered error: sqs/SendMessage.txt is empty"]), job)
    with pytest.raises(kb.IngestionFailed, match=r"ingestion job IJ12345678 of knowledge base KB12345678 ended COMPLETE "
                                                 r"with 2 of 100 document\(s\) failed: .*PutObject.*; .*SendMessage.*"
                                                 r"Sync history.*run step 02 again"):
        kb.ingest(BedrockRun(clients, SETTINGS, "unit", no_sleep), "KB12345678", "DS12345678")


def test_an_ingestion_past_its_limit_stops(stubs):
    clients, agent, _ = stubs
    agent.add_response("get_ingestion_job", ingestion("IN_PROGRESS", 10), started_ingestion(agent))
    with pytest.raises(polling.WaitTimedOut, match="ingestion job IJ12345678 .* still IN_PROGRESS .*wait_hours.ingestion"):
        kb.ingest(BedrockRun(clients, limited(ingestion=0.001), "unit", no_sleep), "KB12345678", "DS12345678")
