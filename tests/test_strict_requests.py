"""The request validator of the tests (tests/fake_aws/strict_requests.py): what the service models
allow beyond botocore's own checks, on real operations, and its two hooks — every client the tests
make (tests/conftest.py) and the fake Bedrock of the notebooks' kernels (fake_bedrock.py)."""

import json

import boto3
import botocore.session
import botocore.validate
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from fake_aws import fake_bedrock, strict_requests

MODELS = botocore.session.get_session()


def problems(service: str, operation: str, params: dict) -> list[str]:
    return strict_requests.check(MODELS.get_service_model(service).operation_model(operation), params)


def test_a_policy_type_outside_the_enum_is_refused():
    found = problems("opensearchserverless", "CreateSecurityPolicy",
                     {"name": "unit-kb", "type": "encrypt", "policy": "{}"})
    assert found == ["opensearchserverless CreateSecurityPolicy: type = 'encrypt': not one of the enum "
                     "SecurityPolicyType ['encryption', 'network']"]
    assert problems("opensearchserverless", "CreateSecurityPolicy",
                    {"name": "unit-kb", "type": "encryption", "policy": "{}"}) == []


def test_a_name_breaking_the_pattern_is_refused_and_the_pattern_is_matched_whole():
    found = problems("bedrock-agent", "CreateKnowledgeBase", {"name": "unit kb"})
    assert found == ["bedrock-agent CreateKnowledgeBase: name = 'unit kb': does not match the pattern "
                     "([0-9a-zA-Z][_-]?){1,100}"]  # a search would find `unit` in it and pass
    assert problems("bedrock-agent", "CreateKnowledgeBase", {"name": "unit-kb"}) == []
    assert problems("bedrock-agent", "CreateKnowledgeBase", {"name": "unit--kb"})  # one `-` or `_` at a time


def test_a_too_long_name_is_refused():
    found = problems("opensearchserverless", "CreateSecurityPolicy", {"name": "a" * 33, "type": "network"})
    assert len(found) == 1 and "name = 'aaaa" in found[0] and "length 33 is over the maximum length 32" in found[0]
    found = problems("bedrock", "CreateModelCustomizationJob", {"jobName": "j" * 64})
    assert len(found) == 1 and "jobName" in found[0] and "maximum length 63" in found[0]


def test_a_too_large_number_is_refused_with_its_path():
    found = problems("bedrock-agent-runtime", "Retrieve", {
        "knowledgeBaseId": "KB12345678", "retrievalQuery": {"text": "q"},
        "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 101}}})
    assert found == ["bedrock-agent-runtime Retrieve: retrievalConfiguration.vectorSearchConfiguration."
                     "numberOfResults = 101: over the maximum value 100"]
    found = problems("bedrock-runtime", "Converse", {
        "modelId": "amazon.nova-micro-v1:0", "inferenceConfig": {"maxTokens": 1, "temperature": 1.5},
        "messages": [{"role": "robot", "content": [{"text": "hi"}]}]})
    assert [line.split(": ", 1)[1].split(" = ")[0] for line in found] == ["messages[0].role", "inferenceConfig.temperature"]


def test_an_empty_map_or_blob_is_refused_where_botocore_does_not_look():
    params = {"modelId": "amazon.nova-micro-v1:0", "requestMetadata": {},
              "messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": b""}}}]}]}
    operation = MODELS.get_service_model("bedrock-runtime").operation_model("Converse")
    assert not botocore.validate.ParamValidator().validate(params, operation.input_shape).has_errors()
    found = problems("bedrock-runtime", "Converse", params)
    assert [line.split(": ", 1)[1].split(" = ")[0] for line in found] == ["messages[0].content[0].image.source.bytes",
                                                                          "requestMetadata"]
    assert all("under the minimum length 1" in line for line in found)


def test_a_java_only_pattern_is_skipped_and_counted():
    assert strict_requests.compiled(r"[\p{L}\p{Z}]+") is None
    assert r"[\p{L}\p{Z}]+" in strict_requests.SKIPPED_PATTERNS
    assert strict_requests.compiled("[a-z&&[^q]]+") is None  # Java's intersection: a warning in Python, not applied
    typo = r".*(^arn:aws:bedrock:[a-zA-Z0-9-]+:/d{12}:knowledge-base/[A-Z0-9]{10}$).*"
    assert strict_requests.compiled(typo) is None and "typo" in strict_requests.SKIPPED_PATTERNS[typo]
    assert strict_requests.compiled("[a-z][a-z0-9-]+").fullmatch("unit-kb")
    for made_up in (r"[\p{L}\p{Z}]+", "[a-z&&[^q]]+", typo):  # the run's count is of the service models' patterns
        strict_requests.SKIPPED_PATTERNS.pop(made_up)


def test_every_stubbed_client_is_checked_even_under_except_exception(strict_aws_requests):
    client = boto3.client("opensearchserverless", region_name="us-east-1")
    with Stubber(client) as stub, pytest.raises(pytest.fail.Exception, match=r"CreateSecurityPolicy: type = 'encrypt'"):
        stub.add_response("create_security_policy", {})  # Stubber itself would let it through
        try:  # code that counts any Exception as a failed call and goes on cannot hide it
            client.create_security_policy(name="unit-kb", type="encrypt", policy="{}")
        except Exception:
            pass
    assert len(strict_aws_requests.violations) == 1
    strict_aws_requests.violations.clear()  # expected here; any left would fail the test at teardown


def test_every_moto_client_is_checked(strict_aws_requests):
    with mock_aws(), pytest.raises(pytest.fail.Exception, match=r"CreateKnowledgeBase: name = 'unit kb'"):
        boto3.client("bedrock-agent", region_name="us-east-1").create_knowledge_base(
            name="unit kb", roleArn="arn:aws:iam::123456789012:role/NovaLabBedrock",
            knowledgeBaseConfiguration={"type": "VECTOR"})
    strict_aws_requests.violations.clear()


def test_a_good_request_goes_through(strict_aws_requests):
    client = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("retrieve", {"retrievalResults": []})
        client.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "q"},
                        retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 100}})
    assert strict_aws_requests.violations == []


def test_the_fake_bedrock_of_the_notebooks_checks_each_request(tmp_path_factory, strict_aws_requests):
    state = tmp_path_factory.mktemp("fake") / "fake-aws.pickle"
    fake = fake_bedrock.FakeBedrock(state)
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    session.events.register("before-parameter-build.*.*", fake.keep_params)
    session.events.register("before-call.*.*", fake)
    client = session.client("bedrock-agent")
    client.meta.events.unregister("before-parameter-build.*.*", strict_aws_requests.check)  # the fake's own check
    assert client.list_knowledge_bases()["knowledgeBaseSummaries"] == []
    with pytest.raises(strict_requests.StrictRequestError, match=r"CreateKnowledgeBase: name = 'unit kb'"):
        client.create_knowledge_base(name="unit kb", roleArn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                                     knowledgeBaseConfiguration={"type": "VECTOR"})
    report = json.loads(state.with_name(state.name + ".strict.json").read_text())
    assert report["checked"] == 2 and len(report["violations"]) == 1 and "unit kb" in report["violations"][0]
    assert "kb" not in fake.made  # refused before the fake made anything
