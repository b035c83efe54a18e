"""OpenSearch Serverless as the knowledge base's vector store (`vector_store: opensearch_serverless`),
the one that gives Bedrock's hybrid search: the collection's encryption, network and data access
policies, a vector search collection, and the vector index Bedrock writes to.

The collection is billed by the OCU-hour while it exists (`nova-lab plan` prices it); `nova-lab
teardown` removes it and its policies. The index is made through the collection's own REST API
(boto3 has no call for it), in a request signed by botocore for the `aoss` service.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session
from tqdm.auto import tqdm

from nova_lab.bedrock.polling import poll
from nova_lab.bedrock.resources import TAG_KEY, Clients, if_exists, request_token, resource_name
from nova_lab.params import BedrockSettings

INDEX = "corpus"
VECTOR_FIELD, TEXT_FIELD, METADATA_FIELD = "bedrock-knowledge-base-default-vector", "AMAZON_BEDROCK_TEXT_CHUNK", "AMAZON_BEDROCK_METADATA"
POLICY_TYPES = {"encryption": "security", "network": "security", "data": "access"}


class CollectionFailed(RuntimeError):
    """The collection ended in FAILED; OpenSearch's reason is in the message."""


@dataclass(frozen=True)
class Collection:
    name: str
    arn: str
    endpoint: str


def collection_name(settings: BedrockSettings) -> str:
    return resource_name(settings, "kb")  # <= 28 characters: collection names take 3-32


def role_principal(caller_arn: str) -> str:
    """The IAM role behind an assumed-role session (data access policies name roles, not sessions)."""
    if ":assumed-role/" not in caller_arn:
        return caller_arn
    account = caller_arn.split(":")[4]
    return f"arn:aws:iam::{account}:role/{caller_arn.split(':assumed-role/')[1].split('/')[0]}"


def policies(name: str, principals: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The three policies a collection needs before Bedrock can use it, by type."""
    collection = [f"collection/{name}"]
    return {
        "encryption": [{"Rules": [{"ResourceType": "collection", "Resource": collection}], "AWSOwnedKey": True}],
        "network": [{"Rules": [{"ResourceType": "collection", "Resource": collection}], "AllowFromPublic": True}],
        "data": [{"Rules": [
            {"ResourceType": "collection", "Resource": collection,
             "Permission": ["aoss:DescribeCollectionItems", "aoss:CreateCollectionItems", "aoss:UpdateCollectionItems"]},
            {"ResourceType": "index", "Resource": [f"index/{name}/*"],
             "Permission": ["aoss:CreateIndex", "aoss:DescribeIndex", "aoss:ReadDocument", "aoss:WriteDocument",
                            "aoss:UpdateIndex", "aoss:DeleteIndex"]}],
            "Principal": principals}],
    }


def _ensure_policy(clients: Clients, name: str, kind: str, document: list[dict[str, Any]]) -> None:
    api = POLICY_TYPES[kind]
    if if_exists(getattr(clients.opensearch, f"get_{api}_policy"), type=kind, name=name) is not None:
        return  # reused
    getattr(clients.opensearch, f"create_{api}_policy")(
        type=kind, name=name, policy=json.dumps(document), clientToken=request_token(f"{kind}-{name}"))


def ensure_collection(clients: Clients, settings: BedrockSettings,
                      sleep: Callable[[float], None] = time.sleep) -> Collection:
    """Policies and collection (each reused when it exists), waited for until ACTIVE."""
    name = collection_name(settings)
    principals = sorted({settings.role_arn, role_principal(clients.sts.get_caller_identity()["Arn"])})
    for kind, document in policies(name, principals).items():
        _ensure_policy(clients, name, kind, document)
    found = clients.opensearch.batch_get_collection(names=[name]).get("collectionDetails", [])
    if not found:
        clients.opensearch.create_collection(name=name, type="VECTORSEARCH", clientToken=request_token(name),
                                             tags=[{"key": TAG_KEY, "value": settings.study_tag}])
    with tqdm(desc=f"collection {name}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        for detail in poll(lambda: clients.opensearch.batch_get_collection(names=[name])["collectionDetails"][0],
                           10.0, 60.0, sleep):
            bar.set_postfix_str(detail["status"], refresh=True)
            if detail["status"] == "ACTIVE":
                return Collection(name, detail["arn"], detail["collectionEndpoint"])
            if detail["status"] == "FAILED":
                raise CollectionFailed(f"collection {name} failed: {detail.get('failureMessage', '')}")


def index_body(dimensions: int) -> dict[str, Any]:
    """A k-NN index Bedrock can write to: its vector, text and metadata fields (text searchable for hybrid)."""
    return {"settings": {"index": {"knn": True}}, "mappings": {"properties": {
        VECTOR_FIELD: {"type": "knn_vector", "dimension": dimensions,
                       "method": {"name": "hnsw", "engine": "faiss", "space_type": "l2"}},
        TEXT_FIELD: {"type": "text"},
        METADATA_FIELD: {"type": "text", "index": False}}}}


def _signed(method: str, url: str, body: str | None, credentials: Any, region: str) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, "aoss", region).add_auth(request)
    return request


class IndexNotCreated(RuntimeError):
    """The collection refused the vector index; its HTTP status and reply are in the message."""


def ensure_index(collection: Collection, credentials: Any, region: str, dimensions: int,
                 send: Callable[[AWSRequest], Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep, attempts: int = 6) -> bool:
    """The vector index in the collection; returns whether it was created now. A new data access
    policy takes a while to apply, so a 403 is asked again with back-off before it is an error."""
    send = send or (lambda request: URLLib3Session().send(request.prepare()))
    url = f"{collection.endpoint}/{INDEX}"

    def attempt() -> Any:
        if send(_signed("HEAD", url, None, credentials, region)).status_code == 200:
            return None  # it exists
        return send(_signed("PUT", url, json.dumps(index_body(dimensions)), credentials, region))

    for tries, response in enumerate(poll(attempt, 10.0, 60.0, sleep), 1):
        if response is None or response.status_code == 200:
            return response is not None
        if response.status_code != 403 or tries == attempts:
            raise IndexNotCreated(f"could not create the vector index {url}: HTTP {response.status_code} "
                                  f"{response.text[:300]}")


def storage_configuration(collection: Collection) -> dict[str, Any]:
    return {"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
        "collectionArn": collection.arn, "vectorIndexName": INDEX,
        "fieldMapping": {"vectorField": VECTOR_FIELD, "textField": TEXT_FIELD, "metadataField": METADATA_FIELD}}}
