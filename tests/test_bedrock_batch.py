"""Batch inference jobs: one per model of 100 records or more, reused by a re-run, failed records and smaller
groups handed back for on-demand calls, a job that ends without finishing stopped on (S3 with moto, Bedrock with
Stubber, both checked against the service models)."""

import json

import pytest
from botocore.stub import ANY

from conftest import stubbed_bedrock_run
from nova_lab.bedrock import batch
from nova_lab.bedrock.runtime import converse_body
from nova_lab.bedrock.state import read_state
from nova_lab.core.bedrock_models import BATCH_MIN_RECORDS
from nova_lab.core.params import BedrockSettings

SETTINGS = BedrockSettings(bucket="nova-lab-test-bucket", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                           study_tag="unit", max_usd=10)
MODEL = "amazon.nova-micro-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdef012345"


@pytest.fixture
def run(monkeypatch):
    with stubbed_bedrock_run(SETTINGS, monkeypatch) as made:
        yield made


def requests(n, model=MODEL):
    return [batch.Request(f"key{i:04d}", model, converse_body(f"question {i}?", 64)) for i in range(n)]


def reply(text):
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 3, "totalTokens": 13}}


def job(status):
    return {"jobArn": ARN, "jobName": "unit-job", "modelId": MODEL, "roleArn": SETTINGS.role_arn, "status": status,
            "submitTime": "2026-12-06T00:00:00Z", "message": "the role cannot read the records",
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://b/k.jsonl"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/out/"}}}


def write_output(run, submitted, asked, failed=()):
    """What the job writes: a line per record, an error in place of the output for `failed` ones."""
    bucket, _, prefix = submitted["output"].removeprefix("s3://").partition("/")
    lines = [{"recordId": r.key, "modelInput": r.body,
              **({"error": {"errorCode": 429, "errorMessage": "Too many requests"}} if r.key in failed
                 else {"modelOutput": reply(f"answer to {r.key}")})} for r in asked]
    run.clients.s3.put_object(Bucket=bucket, Key=f"{prefix}abcdef012345/records.jsonl.out",
                              Body="\n".join(json.dumps(line) for line in lines).encode())


def expect_create(stub):
    stub.add_response("create_model_invocation_job", {"jobArn": ARN}, {
        "jobName": ANY, "roleArn": SETTINGS.role_arn, "modelId": MODEL, "modelInvocationType": "Converse",
        "inputDataConfig": ANY, "outputDataConfig": ANY, "timeoutDurationInHours": 24, "tags": ANY,
        "clientRequestToken": ANY})


def test_a_model_with_fewer_records_than_a_job_takes_is_left_for_on_demand_calls(run):
    bedrock_run, stub = run
    outcome = batch.converse_all(bedrock_run, "answers", requests(BATCH_MIN_RECORDS - 1))
    assert len(outcome.left) == BATCH_MIN_RECORDS - 1 and not outcome.responses and not outcome.jobs
    stub.assert_no_pending_responses()  # no job asked for


def test_one_job_per_model_its_failed_records_left_and_a_rerun_reuses_it(run):
    bedrock_run, stub = run
    asked = requests(120)
    expect_create(stub)
    stub.add_response("get_model_invocation_job", job("InProgress"), {"jobIdentifier": ARN})
    stub.add_response("get_model_invocation_job", job("PartiallyCompleted"), {"jobIdentifier": ARN})
    submitted = batch.job_name(bedrock_run, "answers", MODEL, asked, 1)
    state_job = {"output": f"s3://{SETTINGS.bucket}/unit/unit/batch/{submitted}/out/"}
    write_output(bedrock_run, state_job, asked, failed={"key0007"})
    outcome = batch.converse_all(bedrock_run, "answers", asked)
    assert len(outcome.responses) == 119 and [r.key for r in outcome.left] == ["key0007"] and outcome.failed == 1
    assert outcome.responses["key0003"]["output"]["message"]["content"][0]["text"] == "answer to key0003"
    kept = read_state("unit")["batch_jobs"][submitted]
    assert kept["arn"] == ARN and kept["attempt"] == 1 and kept["name"] == submitted
    records = bedrock_run.clients.s3.get_object(Bucket=SETTINGS.bucket, Key=kept["input"].split("/", 3)[3])
    first = json.loads(records["Body"].read().decode().splitlines()[0])
    assert first == {"recordId": "key0000", "modelInput": asked[0].body}  # a Converse body, keyed as the store is
    stub.add_response("get_model_invocation_job", job("Completed"), {"jobIdentifier": ARN})  # found, not resubmitted
    stub.add_response("get_model_invocation_job", job("Completed"), {"jobIdentifier": ARN})
    again = batch.converse_all(bedrock_run, "answers", asked)
    assert len(again.responses) == 119
    stub.assert_no_pending_responses()


def test_a_job_that_fails_while_waited_for_stops_and_the_next_run_submits_it_anew(run):
    bedrock_run, stub = run
    asked = requests(100)
    expect_create(stub)
    stub.add_response("get_model_invocation_job", job("Failed"), {"jobIdentifier": ARN})
    with pytest.raises(batch.BatchJobFailed, match=r"batch inference job unit-unit-answers-\w+ ended Failed: the role "
                                                   r"cannot read the records .*run the step again to submit its "
                                                   r"records anew, or set bedrock.invocation: on_demand"):
        batch.converse_all(bedrock_run, "answers", asked)
    stub.add_response("get_model_invocation_job", job("Failed"), {"jobIdentifier": ARN})  # the state's job: ended
    expect_create(stub)
    stub.add_response("get_model_invocation_job", job("Completed"), {"jobIdentifier": ARN})
    base = batch.job_name(bedrock_run, "answers", MODEL, asked, 1)
    again = batch.job_name(bedrock_run, "answers", MODEL, asked, 2)
    write_output(bedrock_run, {"output": f"s3://{SETTINGS.bucket}/unit/unit/batch/{again}/out/"}, asked)
    assert len(batch.converse_all(bedrock_run, "answers", asked).responses) == 100
    assert read_state("unit")["batch_jobs"][base]["attempt"] == 2 and again == f"{base}-r2"
