"""OpenSearch Serverless as the knowledge base's vector store (`vector_store: opensearch_serverless`),
the one that gives Bedrock's hybrid search: the collection's encryption, network and data access
policies, a vector search collection, and the vector index Bedrock writes to.

The collection is billed by the OCU-hour while it exists (`nova-lab plan` prices it); `nova-lab
teardown` removes it and its policies. The index is made through the collection's own REST API
(boto3 has no call for it) with `opensearch-py` and its `AWSV4SignerAuth(credentials, region, "aoss")`,
as AWS's knowledge-base samples do: it signs the body's SHA-256 (`X-Amz-Content-SHA256`), which
OpenSearch Serverless requires and a plain SigV4 signature leaves out.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection
from opensearchpy.exceptions import AuthenticationException, AuthorizationException, TransportError
from tqdm.auto import tqdm

from nova_lab.bedrock.polling import CONSOLES, Limit, RunStopped, poll, status_of
from nova_lab.bedrock.resources import TAG_KEY, Clients, collection_name, if_exists
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.tokens import request_token

INDEX = "corpus"
VECTOR_FIELD, TEXT_FIELD, METADATA_FIELD = "bedrock-knowledge-base-default-vector", "AMAZON_BEDROCK_TEXT_CHUNK", "AMAZON_BEDROCK_METADATA"
POLICY_TYPES = {"encryption": "security", "network": "security", "data": "access"}


class CollectionFailed(RunStopped):
    """The collection ended in a failed status; OpenSearch's reason is in the message."""


# The service model's CollectionStatus values a wait for ACTIVE stops on (the study never updates a collection)
COLLECTION_FAILED = ("FAILED", "UPDATE_FAILED", "DELETING")


@dataclass(frozen=True)
class Collection:
    name: str
    arn: str
    endpoint: str


def role_principal(caller_arn: str) -> str:
    """The IAM role behind an assumed-role session (data access policies name roles, not sessions)."""
    if ":assumed-role/" not in caller_arn:
        return caller_arn
    account = caller_arn.split(":")[4]
    return f"arn:aws:iam::{account}:role/{caller_arn.split(':assumed-role/')[1].split('/')[0]}"


def policies(name: str, principals: list[str]) -> dict[str, Any]:
    """The three policies a collection needs before Bedrock can use it, by type. An encryption policy
    is one JSON object; network and data access policies are JSON arrays of rule sets."""
    collection = [f"collection/{name}"]
    return {
        "encryption": {"Rules": [{"ResourceType": "collection", "Resource": collection}], "AWSOwnedKey": True},
        "network": [{"Rules": [{"ResourceType": "collection", "Resource": collection}], "AllowFromPublic": True}],
        "data": [{"Rules": [
            {"ResourceType": "collection", "Resource": collection,
             "Permission": ["aoss:DescribeCollectionItems", "aoss:CreateCollectionItems", "aoss:UpdateCollectionItems"]},
            {"ResourceType": "index", "Resource": [f"index/{name}/*"],
             "Permission": ["aoss:CreateIndex", "aoss:DescribeIndex", "aoss:ReadDocument", "aoss:WriteDocument",
                            "aoss:UpdateIndex", "aoss:DeleteIndex"]}],
            "Principal": principals}],
    }


def _ensure_policy(clients: Clients, name: str, kind: str, document: Any) -> None:
    api = POLICY_TYPES[kind]
    if if_exists(getattr(clients.opensearch, f"get_{api}_policy"), type=kind, name=name) is not None:
        return  # reused
    request = dict(type=kind, name=name, policy=json.dumps(document))
    getattr(clients.opensearch, f"create_{api}_policy")(
        **request, clientToken=request_token(f"{kind}-{name}", request, clients.nonce))


def _collection_detail(clients: Clients, name: str) -> dict[str, Any] | None:
    """The collection's details, or None while a new one is not listed yet."""
    return next(iter(clients.opensearch.batch_get_collection(names=[name]).get("collectionDetails", [])), None)


def ensure_collection(run: BedrockRun) -> Collection:
    """Policies and collection (each reused when it exists), waited for until ACTIVE."""
    clients, settings = run.clients, run.settings
    name = collection_name(settings)
    principals = sorted({settings.role_arn, role_principal(clients.sts.get_caller_identity()["Arn"])})
    for kind, document in policies(name, principals).items():
        _ensure_policy(clients, name, kind, document)
    if _collection_detail(clients, name) is None:
        request = dict(name=name, type="VECTORSEARCH", tags=[{"key": TAG_KEY, "value": settings.study_tag}])
        clients.opensearch.create_collection(**request, clientToken=request_token(name, request, clients.nonce))
    limit = Limit.of(settings, "vector_store", f"OpenSearch Serverless collection {name}")
    with tqdm(desc=f"collection {name}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        for detail in poll(lambda: _collection_detail(clients, name), 10.0, 60.0, run.sleep, limit):
            bar.set_postfix_str(status_of(detail), refresh=True)
            if status_of(detail) == "ACTIVE":
                return Collection(name, detail["arn"], detail["collectionEndpoint"])
            if status_of(detail) in COLLECTION_FAILED:
                raise CollectionFailed(f"{limit.what} is {detail['status']}: {detail.get('failureMessage', '')} (see "
                                       f"{CONSOLES['vector_store']}); run `nova-lab teardown` and run again")


def index_body(dimensions: int) -> dict[str, Any]:
    """A k-NN index Bedrock can write to: its vector, text and metadata fields (text searchable for hybrid)."""
    return {"settings": {"index": {"knn": True}}, "mappings": {"properties": {
        VECTOR_FIELD: {"type": "knn_vector", "dimension": dimensions,
                       "method": {"name": "hnsw", "engine": "faiss", "space_type": "l2"}},
        TEXT_FIELD: {"type": "text"},
        METADATA_FIELD: {"type": "text", "index": False}}}}


def index_client(collection: Collection, credentials: Any, region: str) -> OpenSearch:
    """The collection's REST API, every request SigV4-signed for `aoss` with its payload hash."""
    return OpenSearch(hosts=[{"host": collection.endpoint.removeprefix("https://"), "port": 443}],
                      http_auth=AWSV4SignerAuth(credentials, region, "aoss"), use_ssl=True, verify_certs=True,
                      connection_class=RequestsHttpConnection, timeout=60)


class IndexNotCreated(RuntimeError):
    """The collection refused the vector index; its HTTP status and reply are in the message."""


SIGNATURE_REFUSED = ("signature", "security token", "authentication token", "credential", "expired")


def _signature_refused(exc: TransportError) -> bool:
    """A 403 is either a bad signature (credentials, region, clock: retrying cannot help) or the data
    access policy not (yet) granting the caller (a new policy takes minutes to apply)."""
    reply = str(exc.info or exc.error).lower()
    return isinstance(exc, AuthenticationException) or any(word in reply for word in SIGNATURE_REFUSED)


def _refusal(exc: TransportError, url: str, principals: str) -> IndexNotCreated:
    reply = str(exc.info or exc.error)[:300]
    if _signature_refused(exc):
        return IndexNotCreated(f"the collection refused the request's signature for {url} (HTTP {exc.status_code} "
                               f"{reply}): check the credentials, their region and the clock; not a policy problem")
    if isinstance(exc, AuthorizationException):
        return IndexNotCreated(f"the data access policy does not let the caller create {url} (HTTP 403 {reply}); "
                               f"it names {principals}: run as one of them, or teardown and run again")
    return IndexNotCreated(f"could not create the vector index {url}: HTTP {exc.status_code} {reply}")


def ensure_index(collection: Collection, credentials: Any, region: str, dimensions: int,
                 client: OpenSearch | None = None, sleep: Callable[[float], None] = time.sleep,
                 attempts: int = 6, principals: str = "the role and the caller") -> bool:
    """The vector index in the collection, visible before this returns (the knowledge base checks it
    at creation); returns whether it was created now. A new data access policy takes a while to
    apply, so an authorization 403 is asked again with back-off; a signature 403 is not."""
    client = client or index_client(collection, credentials, region)
    url = f"{collection.endpoint}/{INDEX}"
    created = False

    def attempt() -> TransportError | None:
        nonlocal created
        try:
            if client.indices.exists(index=INDEX):
                return None
            client.indices.create(index=INDEX, body=index_body(dimensions))
            created = True
            return None if client.indices.exists(index=INDEX) else TransportError(404, "not visible yet", "")
        except TransportError as exc:
            return exc

    for tries, failure in enumerate(poll(attempt, 10.0, 60.0, sleep), 1):
        if failure is None:
            return created
        waiting = failure.status_code == 404 or (failure.status_code == 403 and not _signature_refused(failure))
        if not waiting or tries == attempts:
            raise _refusal(failure, url, principals)


def storage_configuration(collection: Collection) -> dict[str, Any]:
    return {"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
        "collectionArn": collection.arn, "vectorIndexName": INDEX,
        "fieldMapping": {"vectorField": VECTOR_FIELD, "textField": TEXT_FIELD, "metadataField": METADATA_FIELD}}}
