"""The study's AWS resources without an account: moto for S3 and customization jobs, botocore's
Stubber (which checks every request against the service model) for what moto lacks."""

import re

import boto3
import botocore.session
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from fake_aws import iam_rules
from nova_lab.bedrock import customization, iam, knowledge_base, resources, teardown
from nova_lab.bedrock.resources import TAG_KEY, Clients
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.tokens import request_token
from nova_lab.core import paths
from nova_lab.core.params import BedrockSettings, CommonParams, load_params

SETTINGS = BedrockSettings(bucket="nova-lab-test-bucket", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                           study_tag="unit", max_usd=10)
HYPER = {"epochCount": 2, "learningRate": 1e-5, "learningRateWarmupSteps": 10}
MODEL_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef012345"
DEPLOY_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef012345"
PT_ARN = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef012345"
EVAL_ARN = "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/abcdef012345"
JOB_ARN, THEIR_JOB_ARN = (f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{i}" for i in ("abcdef012345", "fedcba543210"))
OUR_TAGS = {"tags": [{"key": TAG_KEY, "value": "unit"}]}
DATA = f"s3://{SETTINGS.bucket}/unit"  # a bucket name has 3 to 63 characters (the s3Uri pattern)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


class Split:
    """A bedrock client: moto serves what it implements, a stubbed client the serving calls it lacks."""

    STUBBED = {"list_model_invocation_jobs", "stop_model_invocation_job", "get_model_invocation_job",
               "list_evaluation_jobs", "stop_evaluation_job", "get_evaluation_job",
               "list_custom_model_deployments", "create_custom_model_deployment", "delete_custom_model_deployment",
               "get_custom_model_deployment",
               "list_provisioned_model_throughputs", "create_provisioned_model_throughput",
               "delete_provisioned_model_throughput"}

    def __init__(self, moto_client, stubbed_client):
        self.moto, self.stubbed = moto_client, stubbed_client

    def __getattr__(self, name):
        return getattr(self.stubbed if name in self.STUBBED else self.moto, name)

    def get_paginator(self, operation):
        return (self.stubbed if operation in self.STUBBED else self.moto).get_paginator(operation)

    def list_tags_for_resource(self, resourceARN):
        client = self.stubbed if resourceARN in (DEPLOY_ARN, PT_ARN, JOB_ARN, THEIR_JOB_ARN, EVAL_ARN) else self.moto
        return client.list_tags_for_resource(resourceARN=resourceARN)


def batch_job(arn, status, name="unit-verdicts-0123456789ab"):
    """A batch inference job as ListModelInvocationJobs and GetModelInvocationJob describe it."""
    return {"jobArn": arn, "jobName": name, "modelId": "amazon.nova-micro-v1:0", "status": status,
            "roleArn": SETTINGS.role_arn, "submitTime": "2026-12-06T00:00:00Z",
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"{DATA}/run/batch/in/records.jsonl"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"{DATA}/run/batch/out/"}}}


def evaluation_job(status):
    """An evaluation job as ListEvaluationJobs summarises it."""
    return {"jobArn": EVAL_ARN, "jobName": "unit-unit-eval-0123456789ab", "status": status, "jobType": "Automated",
            "creationTime": "2026-12-06T00:00:00Z", "evaluationTaskTypes": ["Custom"],
            "modelIdentifiers": ["nova-lab-answers"]}


def stubbed_bedrock():
    client = boto3.client("bedrock", region_name="us-east-1")
    return client, Stubber(client)


def test_bucket_is_created_tagged_then_reused(aws):
    clients = Clients.create(SETTINGS)
    first = resources.ensure_bucket(clients, SETTINGS)
    again = resources.ensure_bucket(clients, SETTINGS)
    assert (first.reused, again.reused) == (False, True)
    assert clients.s3.get_bucket_tagging(Bucket=SETTINGS.bucket)["TagSet"] == [{"Key": TAG_KEY, "Value": "unit"}]
    assert resources.upload(clients, SETTINGS, "data/train.jsonl", b"{}") == "s3://nova-lab-test-bucket/unit/data/train.jsonl"


def test_customization_job_is_created_once_with_tags_and_nova_hyperparameters(aws):
    clients = Clients.create(SETTINGS)
    args = (BedrockRun(clients, SETTINGS, "unit"), "micro", "0123456789abcdef", HYPER, f"{DATA}/train.jsonl", f"{DATA}/val.jsonl")
    first = customization.ensure_customization_job(*args)
    again = customization.ensure_customization_job(*args)
    assert first.name == again.name and first.name.startswith("unit-micro-") and again.reused
    other = customization.ensure_customization_job(BedrockRun(clients, SETTINGS, "unit"), "micro", "0123456789abcdef",
                                                   {**HYPER, "epochCount": 3}, f"{DATA}/train.jsonl", f"{DATA}/val.jsonl")
    assert other.name != first.name and not other.reused  # other hyperparameters: another job, not the old one
    jobs = clients.bedrock.list_model_customization_jobs(nameContains=first.name)["modelCustomizationJobSummaries"]
    assert len(jobs) == 1
    job = clients.bedrock.get_model_customization_job(jobIdentifier=first.name)
    assert job["hyperParameters"] == {"epochCount": "2", "learningRate": "1e-05", "learningRateWarmupSteps": "10"}
    assert clients.bedrock.list_tags_for_resource(resourceARN=jobs[0]["jobArn"])["tags"] == OUR_TAGS["tags"]


def test_serving_is_on_demand_unless_provisioned_throughput_is_allowed():
    client, stub = stubbed_bedrock()
    clients = Clients(s3=None, bedrock=client, bedrock_agent=None, s3vectors=None)
    name = "unit-micro-serve"
    stub.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []}, {"nameContains": name})
    stub.add_response("create_custom_model_deployment", {"customModelDeploymentArn": DEPLOY_ARN},
                      {"modelDeploymentName": name, "modelArn": MODEL_ARN, "clientRequestToken": request_token(
                          name, {"modelDeploymentName": name, "modelArn": MODEL_ARN, "tags": OUR_TAGS["tags"]}, ""),
                       "tags": OUR_TAGS["tags"]})
    stub.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": [{
        "customModelDeploymentArn": DEPLOY_ARN, "customModelDeploymentName": name, "modelArn": MODEL_ARN,
        "createdAt": "2026-11-25T00:00:00Z", "status": "Active"}]}, {"nameContains": name})
    with stub:  # a Stubber fails any call it was not told of: no provisioned throughput can slip through
        assert customization.ensure_serving(BedrockRun(clients, SETTINGS, "unit"), MODEL_ARN, name).kind == "deployment"
        assert customization.ensure_serving(BedrockRun(clients, SETTINGS, "unit"), MODEL_ARN, name).reused
    stub.assert_no_pending_responses()


def test_provisioned_throughput_with_opt_in_prints_its_cost(capsys):
    client, stub = stubbed_bedrock()
    allowed = SETTINGS.model_copy(update={"allow_provisioned_throughput": True})
    name = "unit-micro-serve"
    stub.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []}, {"nameContains": name})
    stub.add_response("create_provisioned_model_throughput", {"provisionedModelArn": PT_ARN},
                      {"modelUnits": 1, "provisionedModelName": name, "modelId": MODEL_ARN,
                       "clientRequestToken": ANY, "tags": OUR_TAGS["tags"]})
    with stub:
        made = customization.ensure_serving(BedrockRun(Clients(None, client, None, None), allowed, "unit"), MODEL_ARN, name)
    assert made.kind == "provisioned-throughput" and "an hour" in capsys.readouterr().out


def test_teardown_lists_then_removes_everything_tagged_and_is_safe_twice(aws, strict_aws_requests):
    moto_clients = Clients.create(SETTINGS)
    resources.ensure_bucket(moto_clients, SETTINGS)
    resources.upload(moto_clients, SETTINGS, "corpus/a.txt", b"a")
    customization.ensure_customization_job(BedrockRun(moto_clients, SETTINGS, "unit"), "micro", "0123456789abcdef", HYPER, f"{DATA}/t", f"{DATA}/v")
    client, stub = stubbed_bedrock()
    clients = Clients(moto_clients.s3, Split(moto_clients.bedrock, client), moto_clients.bedrock_agent, moto_clients.s3vectors,
                      opensearch=moto_clients.opensearch)

    def expect_listing(deployments, jobs, evaluations):
        stub.add_response("list_model_invocation_jobs", {"invocationJobSummaries": jobs}, {"nameContains": "unit"})
        for job in jobs:
            if job["status"] in ("InProgress", "Scheduled"):  # a finished job is not looked at
                stub.add_response("list_tags_for_resource", OUR_TAGS if job["jobArn"] == JOB_ARN else
                                  {"tags": [{"key": TAG_KEY, "value": "another-study"}]}, {"resourceARN": job["jobArn"]})
        stub.add_response("list_evaluation_jobs", {"jobSummaries": evaluations} if evaluations else {},  # none: the
                          {"nameContains": "unit"})  # list is left out (the service model's least length is 1)
        for job in evaluations:
            if job["status"] == "InProgress":
                stub.add_response("list_tags_for_resource", OUR_TAGS, {"resourceARN": job["jobArn"]})
        stub.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []}, {})
        stub.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": deployments}, {})
        if deployments:
            stub.add_response("list_tags_for_resource", OUR_TAGS, {"resourceARN": DEPLOY_ARN})

    deployment = [{"customModelDeploymentArn": DEPLOY_ARN, "customModelDeploymentName": "unit-micro-serve",
                   "modelArn": MODEL_ARN, "createdAt": "2026-11-25T00:00:00Z", "status": "Active"}]
    running = [batch_job(JOB_ARN, "InProgress"), batch_job(THEIR_JOB_ARN, "Scheduled", "unit-b-answers-micro"),
               batch_job(JOB_ARN.replace("abcdef", "aaaaaa"), "Completed")]
    grading = [evaluation_job("InProgress")]
    expect_listing(deployment, running, grading)  # dry run
    expect_listing(deployment, running, grading)  # teardown: the running jobs of this study stopped, and waited for
    stub.add_response("stop_model_invocation_job", {}, {"jobIdentifier": JOB_ARN})
    stub.add_response("get_model_invocation_job", batch_job(JOB_ARN, "Stopping"), {"jobIdentifier": JOB_ARN})
    stub.add_response("get_model_invocation_job", batch_job(JOB_ARN, "Stopped"), {"jobIdentifier": JOB_ARN})
    stub.add_response("stop_evaluation_job", {}, {"jobIdentifier": EVAL_ARN})
    described = {"jobName": "unit-unit-eval-0123456789ab", "jobArn": EVAL_ARN, "roleArn": SETTINGS.role_arn,
                 "jobType": "Automated", "creationTime": "2026-12-06T00:00:00Z", "outputDataConfig": {"s3Uri": f"{DATA}/e/"},
                 "evaluationConfig": {"automated": {"datasetMetricConfigs": [{"taskType": "Custom", "metricNames": ["m"],
                                                                              "dataset": {"name": "graded-set"}}]}},
                 "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": "x"}}]}}
    stub.add_response("get_evaluation_job", described | {"status": "Stopped"}, {"jobIdentifier": EVAL_ARN})
    stub.add_response("delete_custom_model_deployment", {}, {"customModelDeploymentIdentifier": DEPLOY_ARN})
    stub.add_response("get_custom_model_deployment", {  # its delete finishes later: the custom model waits for it
        "customModelDeploymentArn": DEPLOY_ARN, "modelDeploymentName": "unit-micro-serve", "modelArn": MODEL_ARN,
        "createdAt": "2026-11-25T00:00:00Z", "status": "Active"}, {"customModelDeploymentIdentifier": DEPLOY_ARN})
    stub.add_client_error("get_custom_model_deployment", "ResourceNotFoundException", http_status_code=404)
    expect_listing([], [batch_job(JOB_ARN, "Stopped")], [evaluation_job("Stopped")])  # second teardown
    slept = []
    before = len(strict_aws_requests.requests)
    with stub:
        listed = teardown.teardown(clients, SETTINGS, dry_run=True)
        assert [r.kind for r in listed] == ["batch-job", "evaluation-job", "deployment", "customization-job",
                                            "custom-model", "s3-bucket"]
        assert listed[0].identifier == JOB_ARN  # not the other study's job, nor the finished one
        assert moto_clients.s3.list_objects_v2(Bucket=SETTINGS.bucket)["KeyCount"] == 1  # dry run deleted nothing
        assert teardown.teardown(clients, SETTINGS, sleep=slept.append) == listed
        assert slept == [5.0, 5.0]  # the job stopping, the deployment being deleted
        assert teardown.teardown(clients, SETTINGS) == []
    requests = strict_aws_requests.requests[before:]  # the teardowns' (and one listing of this test's own)
    stub.assert_no_pending_responses()
    assert moto_clients.s3.list_buckets()["Buckets"] == []
    assert moto_clients.bedrock.list_custom_models()["modelSummaries"] == []
    params = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml").model_copy(update={"bedrock": SETTINGS})
    refused, _ = iam_rules.refusals(requests, iam.policies(params), "123456789012", "us-east-1")
    assert not refused, refused


def test_a_bucket_the_user_brought_loses_only_the_study_prefix(aws):
    clients = Clients.create(SETTINGS)
    clients.s3.create_bucket(Bucket=SETTINGS.bucket)
    clients.s3.put_object(Bucket=SETTINGS.bucket, Key="theirs.txt", Body=b"x")
    resources.upload(clients, SETTINGS, "data/train.jsonl", b"{}")
    [prefix] = teardown._study_storage(clients, SETTINGS)
    assert prefix.kind == "s3-prefix"
    teardown._delete(clients, prefix)
    keys = [o["Key"] for o in clients.s3.list_objects_v2(Bucket=SETTINGS.bucket)["Contents"]]
    assert keys == ["theirs.txt"]


def test_cli_teardown_dry_run_lists_and_keeps(aws, capsys):
    from nova_lab.cli import main
    from nova_lab.core import paths

    clients = Clients.create(SETTINGS)
    clients.s3.create_bucket(Bucket="my-nova-lab-bucket")  # params/bedrock.yaml's bucket, brought by the user
    clients.s3.put_object(Bucket="my-nova-lab-bucket", Key="nova-lab/data/train.jsonl", Body=b"{}")
    stubbed = boto3.client("bedrock", region_name="us-east-1")
    original = Clients.create
    with Stubber(stubbed) as stub, pytest.MonkeyPatch.context() as patch:
        stub.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []}, {"nameContains": "nova-lab"})
        stub.add_response("list_evaluation_jobs", {}, {"nameContains": "nova-lab"})  # no jobs: no list
        stub.add_response("list_provisioned_model_throughputs", {"provisionedModelSummaries": []}, {})
        stub.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []}, {})
        stub.add_response("list_model_customization_jobs", {"modelCustomizationJobSummaries": []}, {"statusEquals": "InProgress"})
        stub.add_response("list_custom_models", {"modelSummaries": []}, {})
        patch.setattr(Clients, "create", classmethod(
            lambda cls, s: Clients(original(s).s3, stubbed, original(s).bedrock_agent, original(s).s3vectors,
                                   opensearch=original(s).opensearch)))
        assert main(["teardown", "--params", str(paths.PARAMS / "study.yaml"), str(paths.PARAMS / "bedrock.yaml"), "--dry-run"]) == 0
    assert "would remove 1 resource(s)" in capsys.readouterr().out
    assert clients.s3.list_objects_v2(Bucket="my-nova-lab-bucket")["KeyCount"] == 1


def test_a_resource_left_behind_says_what_it_still_bills(monkeypatch):
    client, stub = stubbed_bedrock()
    clients = Clients(None, client, None, None)
    throughput = resources.Resource("provisioned-throughput", "unit-micro-serve", PT_ARN)
    monkeypatch.setattr(teardown, "study_resources", lambda c, s: [throughput])
    stub.add_client_error("delete_provisioned_model_throughput", "ConflictException", "still creating")
    with stub, pytest.raises(teardown.TeardownIncomplete) as error:
        teardown.teardown(clients, SETTINGS, sleep=lambda s: None)
    assert "provisioned-throughput unit-micro-serve: ConflictException" in str(error.value)
    assert "still billing $60.50 an hour" in str(error.value)


def test_request_tokens_change_with_the_settings_and_the_run_nonce_only():
    request = {"modelDeploymentName": "unit-micro-serve", "modelArn": MODEL_ARN}
    token = request_token("unit-micro-serve", request, "n1")
    assert token == request_token("unit-micro-serve", dict(reversed(request.items())), "n1")  # a retry: the same
    assert token != request_token("unit-micro-serve", {**request, "modelArn": MODEL_ARN + "x"}, "n1")  # new settings
    assert token != request_token("unit-micro-serve", request, "n2")  # after teardown: a new nonce
    assert len(token) == 64 and token.isalnum()


def test_a_run_keeps_its_nonce_until_teardown_rotates_it(tmp_path, monkeypatch):
    from nova_lab.bedrock import tokens

    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    first = tokens.run_nonce("unit")
    assert tokens.run_nonce("unit") == first
    assert tokens.rotate_nonce("unit") != first and tokens.run_nonce("unit") != first


def test_nova_2_lite_trains_from_its_own_base_with_its_own_hyperparameters_and_no_validation_file(aws):
    """Nova 2 Lite's Bedrock job takes epochCount and learningRate and no validation data (study_models.py says
    where that comes from); Nova 1's takes warmup steps and the validation file."""
    from nova_lab.core.params import FineTuneParams, for_step, load_params

    lite2 = load_params(paths.PARAMS / "nova2_lite.yaml", paths.PARAMS / "bedrock.yaml")
    assert customization.job_hyperparameters(FineTuneParams(**for_step(lite2, "03_fine_tune"))) == {"epochCount": 2, "learningRate": 1e-4}
    clients = Clients.create(SETTINGS)
    new = customization.ensure_customization_job(BedrockRun(clients, SETTINGS, "unit"), "nova2_lite", "0123456789abcdef",
                                                 {"epochCount": 2, "learningRate": 1e-5}, f"{DATA}/train.jsonl", f"{DATA}/val.jsonl")
    job = clients.bedrock.get_model_customization_job(jobIdentifier=new.name)
    assert job["baseModelArn"].endswith("foundation-model/amazon.nova-2-lite-v1:0:256k")
    assert job["hyperParameters"] == {"epochCount": "2", "learningRate": "1e-05"}
    assert not job.get("validationDataConfig", {}).get("validators")
    old = customization.ensure_customization_job(BedrockRun(clients, SETTINGS, "unit"), "lite", "0123456789abcdef", HYPER,
                                                 f"{DATA}/train.jsonl", f"{DATA}/val.jsonl")
    job = clients.bedrock.get_model_customization_job(jobIdentifier=old.name)
    assert job["validationDataConfig"]["validators"] == [{"s3Uri": f"{DATA}/val.jsonl"}]


def service_pattern(service, shape):
    """A name shape's pattern, from botocore's copy of the service model."""
    return re.compile(botocore.session.get_session().get_service_model(service).shape_for(shape).metadata["pattern"])


@pytest.mark.parametrize("run_name", ["a__b", "Smoke_Test", "-_-lead", "trail__", "--", "x" * 80, "A-_-B__c-_9"])
def test_every_valid_run_name_makes_names_the_services_accept(run_name):
    """Bedrock's `([0-9a-zA-Z][_-]?)` name patterns refuse two separators in a row, which `a__b` gave."""
    CommonParams(run_name=run_name, backend="local")  # a valid run_name
    pattern = service_pattern("bedrock-agent", "Name")
    long_tag = SETTINGS.model_copy(update={"study_tag": "a" * 24})
    for settings in (SETTINGS, long_tag):
        name = resources.data_source_name(settings, run_name, 256, 127)
        assert pattern.fullmatch(name) and len(name) <= 63, name
    assert resources.data_source_name(SETTINGS, "x" * 80, 200, 30) != resources.data_source_name(SETTINGS, "x" * 81, 200, 30)


def test_a_data_source_for_a_run_name_with_double_underscores_is_a_valid_request():
    client = boto3.client("bedrock-agent", region_name="us-east-1")
    with Stubber(client) as stub:  # every request is checked against the service model's patterns (conftest.py)
        stub.add_response("list_data_sources", {"dataSourceSummaries": []})
        stub.add_response("create_data_source", {"dataSource": {
            "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "name": "unit-my-run-fixed-size-200-30",
            "status": "AVAILABLE", "dataSourceConfiguration": {"type": "S3"}, "createdAt": "2026-11-25T00:00:00Z",
            "updatedAt": "2026-11-25T00:00:00Z"}})
        stub.add_response("get_data_source", {"dataSource": {
            "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "name": "unit-my-run-fixed-size-200-30",
            "status": "AVAILABLE", "dataSourceConfiguration": {"type": "S3"}, "createdAt": "2026-11-25T00:00:00Z",
            "updatedAt": "2026-11-25T00:00:00Z"}})
        made = knowledge_base.ensure_data_source(BedrockRun(Clients(None, None, client, None), SETTINGS, "my__run",
                                                            lambda s: None), "KB12345678", 200, 30)
    assert made.name == "unit-my-run-fixed-size-200-30"


def test_attempt_names_fit_the_job_and_model_name_patterns_and_read_back():
    from nova_lab.bedrock.resources import attempt_name, attempt_of, job_name

    job_pattern, model_pattern = service_pattern("bedrock", "JobName"), service_pattern("bedrock", "CustomModelName")
    long_tag = SETTINGS.model_copy(update={"study_tag": "a" * 24})
    longest = job_name(long_tag, "nova2_lite", "0123456789abcdef", {"epochCount": 2, "learningRate": 1e-5})
    for attempt in (1, 2, 99):
        name = attempt_name(longest, attempt)
        assert job_pattern.fullmatch(name) and model_pattern.fullmatch(name) and len(name) <= 63
        assert len(resources.serving_name(long_tag, name)) <= 63
        assert attempt_of(longest, name) == attempt
    assert attempt_of(longest, f"{longest}-a2-x") is None and attempt_of(longest, f"{longest}-b") is None
