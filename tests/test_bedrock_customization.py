"""Step 03 on Bedrock: the job is polled to its end and its loss curves are read from S3 (making the job and
serving its model: test_bedrock_resources.py, beside the other resources; the whole step: test_bedrock_steps.py)."""

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from nova_lab.bedrock import customization
from nova_lab.bedrock.resources import Clients
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.params import BedrockSettings

SETTINGS = BedrockSettings(bucket="nova-b", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock", study_tag="unit",
                           max_usd=10)

JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-micro-v1:0:128k/abcdef012345"


def job(status, stage_status="InProgress"):
    return {"jobArn": JOB_ARN, "jobName": "unit-micro-job", "outputModelName": "unit-micro-job",
            "roleArn": "arn:aws:iam::123456789012:role/NovaLabBedrock", "creationTime": "2026-11-25T00:00:00Z",
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k",
            "trainingDataConfig": {"s3Uri": "s3://b/unit/data/train.jsonl"},
            "validationDataConfig": {"validators": [{"s3Uri": "s3://b/unit/data/validation.jsonl"}]},
            "outputDataConfig": {"s3Uri": "s3://b/unit/customization/"}, "status": status,
            "statusDetails": {"trainingDetails": {"status": stage_status}},
            **({"failureMessage": "Training data has 3 invalid records"} if status == "Failed" else {})}


@pytest.fixture
def bedrock(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("bedrock", region_name="us-east-1")
    with Stubber(client) as stub:
        yield Clients(None, client, None, None), stub


def test_the_job_is_polled_with_growing_delays_until_completed(bedrock):
    clients, stub = bedrock
    for status in ("InProgress", "InProgress", "Completed"):
        stub.add_response("get_model_customization_job", job(status), {"jobIdentifier": "unit-micro-job"})
    slept = []
    assert customization.wait_for_job(BedrockRun(clients, SETTINGS, "unit", slept.append), "unit-micro-job")["status"] == "Completed"
    assert slept == [30.0, 45.0]


def test_a_job_not_listed_yet_on_the_first_poll_is_waited_for(bedrock):
    clients, stub = bedrock
    stub.add_client_error("get_model_customization_job", "ResourceNotFoundException", http_status_code=404)
    stub.add_response("get_model_customization_job", job("Completed"), {"jobIdentifier": "unit-micro-job"})
    assert customization.wait_for_job(BedrockRun(clients, SETTINGS, "unit", lambda s: None), "unit-micro-job")["status"] == "Completed"


def test_credentials_expiring_mid_wait_give_the_way_out(bedrock, capsys, monkeypatch):
    clients, stub = bedrock
    stub.add_response("get_model_customization_job", job("InProgress"), {"jobIdentifier": "unit-micro-job"})
    stub.add_client_error("get_model_customization_job", "ExpiredTokenException", "The security token included "
                          "in the request is expired", http_status_code=403)
    with pytest.raises(customization.CredentialsExpired, match="refresh credentials and run again: the job is reused"):
        customization.wait_for_job(BedrockRun(clients, SETTINGS, "unit", lambda s: None), "unit-micro-job")


def test_the_cli_prints_expired_credentials_as_one_line(monkeypatch, capsys):
    from nova_lab import cli

    def expire(args):
        raise customization.CredentialsExpired("the AWS credentials expired ...: refresh credentials and run again")

    monkeypatch.setattr(cli, "_study", expire)
    assert cli.main(["study"]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_a_failed_job_says_why(bedrock):
    clients, stub = bedrock
    stub.add_response("get_model_customization_job", job("Failed", "Failed"))
    with pytest.raises(customization.CustomizationFailed, match="3 invalid records"):
        customization.wait_for_job(BedrockRun(clients, SETTINGS, "unit", lambda s: None), "unit-micro-job")


def test_loss_curves_come_back_in_the_offline_history_shape(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="nova-b")
        root = "unit/customization/model-customization-job-abcdef012345"
        s3.put_object(Bucket="nova-b", Key=f"{root}/training_artifacts/step_wise_training_metrics.csv",
                      Body=b"step_number,epoch_number,training_loss,perplexity\n0,0,2.5,12.2\n1,0,1.5,4.5\n")
        s3.put_object(Bucket="nova-b", Key=f"{root}/validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
                      Body=b"step_number,epoch_number,validation_loss,perplexity\n1,0,1.7,5.5\n")
        history = customization.loss_history(BedrockRun(Clients(s3, None, None, None), SETTINGS, "unit"), "s3://nova-b/unit/customization/")
    assert history["step"].tolist() == [0, 1, 1]
    assert history["loss"].dropna().tolist() == [2.5, 1.5] and history["eval_loss"].dropna().tolist() == [1.7]
