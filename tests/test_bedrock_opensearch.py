"""OpenSearch Serverless as the vector store: policies, collection and index made once and reused,
the knowledge base pointed at them, and teardown; every request checked by Stubber against the
service model, the index's REST calls by a stand-in for the HTTP session."""

import json

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.stub import ANY, Stubber

from nova_lab.bedrock import knowledge_base, opensearch, resources, steps
from nova_lab.bedrock.resources import TAG_KEY, Clients
from nova_lab.params import BedrockSettings

SETTINGS = BedrockSettings(bucket="nova-lab-test-bucket", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                           study_tag="unit", max_usd=10, vector_store="opensearch_serverless")
CALLER = "arn:aws:sts::123456789012:assumed-role/Researcher/alice"
COLLECTION_ARN = "arn:aws:aoss:us-east-1:123456789012:collection/abcdef0123456789"
ENDPOINT = "https://abcdef0123456789.us-east-1.aoss.amazonaws.com"
NOW = "2026-11-25T00:00:00Z"


def detail(status):
    return {"id": "abcdef0123456789", "name": "unit-kb", "status": status, "arn": COLLECTION_ARN,
            "collectionEndpoint": ENDPOINT, "type": "VECTORSEARCH"}


def not_found(stub, method):
    stub.add_client_error(method, "ResourceNotFoundException", http_status_code=404)


@pytest.fixture
def clients():
    aoss = boto3.client("opensearchserverless", region_name="us-east-1")
    sts = boto3.client("sts", region_name="us-east-1")
    agent = boto3.client("bedrock-agent", region_name="us-east-1")
    with Stubber(aoss) as a, Stubber(sts) as s, Stubber(agent) as g:
        yield Clients(None, None, agent, None, opensearch=aoss, sts=sts), a, s, g
        for stub in (a, s, g):
            stub.assert_no_pending_responses()


def test_policies_and_collection_are_made_once_for_bedrock_and_the_caller(clients):
    made, aoss, sts, _ = clients
    for _ in range(2):
        sts.add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"}, {})
    for kind, api in (("encryption", "security"), ("network", "security"), ("data", "access")):
        not_found(aoss, f"get_{api}_policy")
        aoss.add_response(f"create_{api}_policy", {}, {"type": kind, "name": "unit-kb", "policy": ANY, "clientToken": ANY})
    aoss.add_response("batch_get_collection", {"collectionDetails": []}, {"names": ["unit-kb"]})
    aoss.add_response("create_collection", {"createCollectionDetail": {"name": "unit-kb", "status": "CREATING"}}, {
        "name": "unit-kb", "type": "VECTORSEARCH", "clientToken": ANY, "tags": [{"key": TAG_KEY, "value": "unit"}]})
    for status in ("CREATING", "ACTIVE"):
        aoss.add_response("batch_get_collection", {"collectionDetails": [detail(status)]}, {"names": ["unit-kb"]})
    # the second run finds everything
    for kind, api in (("encryption", "security"), ("network", "security"), ("data", "access")):
        aoss.add_response(f"get_{api}_policy", {}, {"type": kind, "name": "unit-kb"})
    for _ in range(2):
        aoss.add_response("batch_get_collection", {"collectionDetails": [detail("ACTIVE")]}, {"names": ["unit-kb"]})
    slept = []
    first = opensearch.ensure_collection(made, SETTINGS, sleep=slept.append)
    again = opensearch.ensure_collection(made, SETTINGS, sleep=slept.append)
    assert first == again == opensearch.Collection("unit-kb", COLLECTION_ARN, ENDPOINT) and slept == [10.0]
    documents = opensearch.policies("unit-kb", [SETTINGS.role_arn, opensearch.role_principal(CALLER)])
    assert documents["data"][0]["Principal"] == [SETTINGS.role_arn, "arn:aws:iam::123456789012:role/Researcher"]
    assert json.loads(json.dumps(documents["encryption"]))[0]["AWSOwnedKey"] is True


class Session:
    """The collection's REST API: HEAD answers `exists`, PUT answers each status of `puts` in turn."""

    def __init__(self, exists, puts):
        self.exists, self.puts, self.requests = exists, list(puts), []

    def send(self, request):
        self.requests.append(request)
        status = (200 if self.exists else 404) if request.method == "HEAD" else self.puts.pop(0)
        return type("Response", (), {"status_code": status, "text": "denied" if status == 403 else "{}"})()


CREDENTIALS = Credentials("AKIDEXAMPLE", "secret")
COLLECTION = opensearch.Collection("unit-kb", COLLECTION_ARN, ENDPOINT)


def test_the_index_is_made_signed_for_aoss_and_waits_out_a_new_access_policy():
    session, slept = Session(exists=False, puts=[403, 200]), []
    assert opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, send=session.send, sleep=slept.append)
    put = [r for r in session.requests if r.method == "PUT"][-1]
    assert put.url == f"{ENDPOINT}/corpus" and "/us-east-1/aoss/aws4_request" in put.headers["Authorization"]
    mapping = json.loads(put.body)["mappings"]["properties"]
    assert mapping[opensearch.VECTOR_FIELD]["dimension"] == 1024 and mapping[opensearch.TEXT_FIELD] == {"type": "text"}
    assert slept == [10.0]
    assert not opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, send=Session(True, []).send)


def test_a_refused_index_names_the_status_and_reply():
    with pytest.raises(opensearch.IndexNotCreated, match="HTTP 400"):
        opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, send=Session(False, [400]).send)
    with pytest.raises(opensearch.IndexNotCreated, match="HTTP 403 denied"):
        opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, send=Session(False, [403] * 3).send,
                                sleep=lambda s: None, attempts=3)


def test_the_knowledge_base_stores_its_vectors_in_the_collection(clients):
    made, _, _, agent = clients
    storage = opensearch.storage_configuration(COLLECTION)
    agent.add_response("list_knowledge_bases", {"knowledgeBaseSummaries": []}, {})
    agent.add_response("create_knowledge_base", {"knowledgeBase": {
        "knowledgeBaseId": "KB12345678", "knowledgeBaseArn": "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345678",
        "name": "unit-kb", "roleArn": SETTINGS.role_arn, "knowledgeBaseConfiguration": {"type": "VECTOR"},
        "storageConfiguration": storage, "status": "CREATING", "createdAt": NOW, "updatedAt": NOW}},
        {"name": "unit-kb", "roleArn": SETTINGS.role_arn, "clientToken": ANY, "tags": {TAG_KEY: "unit"},
         "knowledgeBaseConfiguration": ANY, "storageConfiguration": storage})
    assert knowledge_base.ensure_knowledge_base(made, SETTINGS, storage).identifier == "KB12345678"


def test_replay_makes_no_index_request(clients, monkeypatch):
    made, aoss, sts, _ = clients
    sts.add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"}, {})
    for kind, api in (("encryption", "security"), ("network", "security"), ("data", "access")):
        aoss.add_response(f"get_{api}_policy", {}, {"type": kind, "name": "unit-kb"})
    for _ in range(2):
        aoss.add_response("batch_get_collection", {"collectionDetails": [detail("ACTIVE")]}, {"names": ["unit-kb"]})
    monkeypatch.setattr(opensearch, "ensure_index", lambda *a, **k: pytest.fail("the index was asked for on replay"))
    storage, kept = steps._vector_store(made, SETTINGS.model_copy(update={"recording": "replay"}), lambda s: None)
    assert storage["type"] == "OPENSEARCH_SERVERLESS" and kept == {"collection_arn": COLLECTION_ARN}


def test_teardown_removes_the_collection_and_its_policies(clients):
    made, aoss, _, _ = clients
    aoss.add_response("list_collections", {"collectionSummaries": [
        {"id": "abcdef0123456789", "name": "unit-kb", "status": "ACTIVE", "arn": COLLECTION_ARN}]},
        {"collectionFilters": {"name": "unit-kb"}})
    aoss.add_response("list_tags_for_resource", {"tags": [{"key": TAG_KEY, "value": "unit"}]}, {"resourceArn": COLLECTION_ARN})
    aoss.add_response("delete_collection", {"deleteCollectionDetail": {"id": "abcdef0123456789", "status": "DELETING"}},
                      {"id": "abcdef0123456789"})
    aoss.add_response("delete_security_policy", {}, {"type": "encryption", "name": "unit-kb"})
    not_found(aoss, "delete_security_policy")  # already gone: a second teardown goes on
    aoss.add_response("delete_access_policy", {}, {"type": "data", "name": "unit-kb"})
    [found] = resources._collections(made, SETTINGS)
    assert found == resources.Resource("collection", "unit-kb", "abcdef0123456789")
    resources._delete(made, found)
