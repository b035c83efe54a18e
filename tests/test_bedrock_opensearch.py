"""OpenSearch Serverless as the vector store: policies, collection and index made once and reused,
the knowledge base pointed at them, and teardown; every request checked by Stubber against the
service model, the index's REST calls by a stand-in for the HTTP session."""

import hashlib

import boto3
import pytest
import requests
from botocore.credentials import Credentials
from botocore.stub import ANY, Stubber
from opensearchpy.exceptions import AuthorizationException, RequestError

from nova_lab.bedrock import knowledge_base, opensearch, polling, resources, steps, teardown
from nova_lab.bedrock.resources import TAG_KEY, Clients
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.core.params import BedrockSettings, WaitHours

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
    first = opensearch.ensure_collection(BedrockRun(made, SETTINGS, "unit", slept.append))
    again = opensearch.ensure_collection(BedrockRun(made, SETTINGS, "unit", slept.append))
    assert first == again == opensearch.Collection("unit-kb", COLLECTION_ARN, ENDPOINT) and slept == [10.0]
    documents = opensearch.policies("unit-kb", [SETTINGS.role_arn, opensearch.role_principal(CALLER)])
    assert documents["data"][0]["Principal"] == [SETTINGS.role_arn, "arn:aws:iam::123456789012:role/Researcher"]
    # an encryption policy is one object; network and data access policies are arrays
    assert isinstance(documents["encryption"], dict) and documents["encryption"]["AWSOwnedKey"] is True
    assert isinstance(documents["network"], list) and isinstance(documents["data"], list)


def test_a_collection_not_listed_yet_is_waited_for_not_an_index_error(clients):
    made, aoss, sts, _ = clients
    sts.add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"}, {})
    for kind, api in (("encryption", "security"), ("network", "security"), ("data", "access")):
        aoss.add_response(f"get_{api}_policy", {}, {"type": kind, "name": "unit-kb"})
    aoss.add_response("batch_get_collection", {"collectionDetails": []}, {"names": ["unit-kb"]})
    aoss.add_response("create_collection", {"createCollectionDetail": {"name": "unit-kb", "status": "CREATING"}}, {
        "name": "unit-kb", "type": "VECTORSEARCH", "clientToken": ANY, "tags": [{"key": TAG_KEY, "value": "unit"}]})
    aoss.add_response("batch_get_collection", {"collectionDetails": []}, {"names": ["unit-kb"]})  # just created
    aoss.add_response("batch_get_collection", {"collectionDetails": [detail("ACTIVE")]}, {"names": ["unit-kb"]})
    slept = []
    assert opensearch.ensure_collection(BedrockRun(made, SETTINGS, "unit", slept.append)).arn == COLLECTION_ARN and slept == [10.0]


class Indices:
    """The collection's index API: `exists` answers in turn, `create` raises each failure of `failures` in turn."""

    def __init__(self, exists, failures=()):
        self.exists_answers, self.failures, self.created = list(exists), list(failures), []

    def exists(self, index):
        return self.exists_answers.pop(0)

    def create(self, index, body):
        if self.failures:
            raise self.failures.pop(0)
        self.created.append((index, body))


def fake_client(exists, failures=()):
    return type("Client", (), {"indices": Indices(exists, failures)})()


CREDENTIALS = Credentials("AKIDEXAMPLE", "secret")
COLLECTION = opensearch.Collection("unit-kb", COLLECTION_ARN, ENDPOINT)
POLICY_403 = AuthorizationException(403, "Forbidden", {"status": 403, "error": {"reason": "403 Forbidden", "type": "Forbidden"}})
SIGNATURE_403 = AuthorizationException(403, "Forbidden", {"message": "The request signature we calculated does not match "
                                                                     "the signature you provided."})


def test_requests_to_the_collection_carry_the_payload_hash_signed_for_aoss(monkeypatch):
    """OpenSearch Serverless refuses a SigV4 request without X-Amz-Content-SHA256 (a plain botocore
    SigV4Auth leaves it out): what the client sends must carry it, signed, for service aoss."""
    sent = []

    def send(session, request, **kwargs):
        sent.append(request)
        response = requests.Response()
        response.status_code, response._content, response.headers["content-type"] = 200, b"{}", "application/json"
        response.request, response.url = request, request.url
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    client = opensearch.index_client(COLLECTION, CREDENTIALS, "us-east-1")
    client.indices.create(index="corpus", body=opensearch.index_body(1024))
    [put] = sent
    body = put.body if isinstance(put.body, bytes) else put.body.encode()
    assert put.method == "PUT" and put.url == f"{ENDPOINT}:443/corpus"
    assert put.headers["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    authorization = put.headers["Authorization"]
    assert "/us-east-1/aoss/aws4_request" in authorization and "x-amz-content-sha256" in authorization


def test_the_index_waits_out_a_new_access_policy_then_for_the_index_to_show():
    client, slept = fake_client(exists=[False, False, False, True]), []
    client.indices.failures = [POLICY_403]
    assert opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, client=client, sleep=slept.append)
    [(index, body)] = client.indices.created
    mapping = body["mappings"]["properties"]
    assert index == "corpus" and mapping[opensearch.VECTOR_FIELD]["dimension"] == 1024
    assert mapping[opensearch.TEXT_FIELD] == {"type": "text"} and slept == [10.0, 15.0]  # 403, then not shown yet
    assert not opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, client=fake_client([True]))


def test_a_signature_403_stops_at_once_and_says_it_is_not_the_policy():
    client, slept = fake_client(exists=[False], failures=[SIGNATURE_403]), []
    with pytest.raises(opensearch.IndexNotCreated, match="refused the request's signature.*not a policy problem"):
        opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, client=client, sleep=slept.append)
    assert slept == []  # two minutes of retries cannot fix a signature


def test_an_authorization_403_that_lasts_names_the_policy_and_its_principals():
    client = fake_client(exists=[False] * 3, failures=[POLICY_403] * 3)
    with pytest.raises(opensearch.IndexNotCreated, match="data access policy does not let the caller.*alice-role"):
        opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, client=client, sleep=lambda s: None,
                                attempts=3, principals="alice-role")


def test_any_other_refusal_names_the_status_and_reply():
    client = fake_client(exists=[False], failures=[RequestError(400, "mapper_parsing_exception", {"error": "bad field"})])
    with pytest.raises(opensearch.IndexNotCreated, match="HTTP 400.*bad field"):
        opensearch.ensure_index(COLLECTION, CREDENTIALS, "us-east-1", 1024, client=client, sleep=lambda s: None)


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
    agent.add_response("get_knowledge_base", {"knowledgeBase": {
        "knowledgeBaseId": "KB12345678", "knowledgeBaseArn": "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345678",
        "name": "unit-kb", "roleArn": SETTINGS.role_arn, "knowledgeBaseConfiguration": {"type": "VECTOR"},
        "storageConfiguration": storage, "status": "ACTIVE", "createdAt": NOW, "updatedAt": NOW}}, {"knowledgeBaseId": "KB12345678"})
    assert knowledge_base.ensure_knowledge_base(BedrockRun(made, SETTINGS, "unit", lambda s: None), storage).identifier == "KB12345678"


def test_replay_makes_no_index_request(clients, monkeypatch):
    made, aoss, sts, _ = clients
    sts.add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"}, {})
    for kind, api in (("encryption", "security"), ("network", "security"), ("data", "access")):
        aoss.add_response(f"get_{api}_policy", {}, {"type": kind, "name": "unit-kb"})
    for _ in range(2):
        aoss.add_response("batch_get_collection", {"collectionDetails": [detail("ACTIVE")]}, {"names": ["unit-kb"]})
    monkeypatch.setattr(opensearch, "ensure_index", lambda *a, **k: pytest.fail("the index was asked for on replay"))
    storage, kept = steps._vector_store(BedrockRun(made, SETTINGS.model_copy(update={"recording": "replay"}), "unit",
                                                    lambda s: None))
    assert storage["type"] == "OPENSEARCH_SERVERLESS" and kept == {"collection_arn": COLLECTION_ARN}


def test_teardown_removes_the_collection_and_its_policies(clients):
    made, aoss, _, _ = clients
    aoss.add_response("list_collections", {"collectionSummaries": [
        {"id": "abcdef0123456789", "name": "unit-kb", "status": "ACTIVE", "arn": COLLECTION_ARN}]},
        {"collectionFilters": {"name": "unit-kb"}})
    aoss.add_response("list_tags_for_resource", {"tags": [{"key": TAG_KEY, "value": "unit"}]}, {"resourceArn": COLLECTION_ARN})
    aoss.add_response("delete_collection", {"deleteCollectionDetail": {"id": "abcdef0123456789", "status": "DELETING"}},
                      {"id": "abcdef0123456789"})
    aoss.add_response("batch_get_collection", {"collectionDetails": [detail("DELETING")]}, {"ids": ["abcdef0123456789"]})
    aoss.add_response("batch_get_collection", {"collectionDetails": []}, {"ids": ["abcdef0123456789"]})  # gone: then policies
    aoss.add_response("delete_security_policy", {}, {"type": "encryption", "name": "unit-kb"})
    not_found(aoss, "delete_security_policy")  # already gone: a second teardown goes on
    aoss.add_response("delete_access_policy", {}, {"type": "data", "name": "unit-kb"})
    [found] = teardown._collections(made, SETTINGS)
    assert found == resources.Resource("collection", "unit-kb", "abcdef0123456789")
    slept = []
    teardown._delete(made, found, sleep=slept.append)
    assert slept == [5.0]  # the policies went only once the collection was gone


@pytest.mark.parametrize("status", ["FAILED", "UPDATE_FAILED"])
def test_a_collection_in_a_failed_status_stops_and_one_too_slow_stops(clients, status):
    made, aoss, sts, _ = clients
    for now in (status, "CREATING"):
        sts.add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"}, {})
        for kind, api in (("encryption", "security"), ("network", "security"), ("data", "access")):
            aoss.add_response(f"get_{api}_policy", {}, {"type": kind, "name": "unit-kb"})
        for _ in range(2):  # found, then polled
            aoss.add_response("batch_get_collection", {"collectionDetails": [detail(now)]}, {"names": ["unit-kb"]})
    run = BedrockRun(made, SETTINGS.model_copy(update={"wait_hours": WaitHours(vector_store=0.001)}), "unit", lambda s: None)
    with pytest.raises(opensearch.CollectionFailed, match=f"collection unit-kb is {status}"):
        opensearch.ensure_collection(run)
    with pytest.raises(polling.WaitTimedOut, match="collection unit-kb is still CREATING .*Serverless > Collections"):
        opensearch.ensure_collection(run)
