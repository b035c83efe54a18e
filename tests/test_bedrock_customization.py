"""Step 03 on Bedrock: the job is polled to its end and its loss curves are read from S3 (making the job and
serving its model: test_bedrock_resources.py, beside the other resources; the whole step: test_bedrock_steps.py)."""

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from nova_lab.bedrock import customization, polling
from nova_lab.bedrock.resources import Clients, Resource, job_name
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.core.params import BedrockSettings, WaitHours

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
    with pytest.raises(polling.CredentialsExpired, match="ExpiredTokenException.*customization job unit-micro-job.*"
                                                               "refresh credentials and run again: it is reused"):
        customization.wait_for_job(BedrockRun(clients, SETTINGS, "unit", lambda s: None), "unit-micro-job")


def test_the_cli_prints_expired_credentials_as_one_line(monkeypatch, capsys):
    from nova_lab import cli

    def expire(args):
        raise polling.CredentialsExpired("the AWS credentials expired ...: refresh credentials and run again")

    monkeypatch.setattr(cli, "_study", expire)
    assert cli.main(["study"]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_every_stop_of_a_bedrock_step_is_one_line_from_a_notebook_too():
    """A notebook's error reaches the CLI by name only: every kind of RunStopped must be in cli.STOPS."""
    from nova_lab import cli
    from nova_lab.bedrock import knowledge_base, opensearch, runtime  # noqa: F401 (define the rest)

    def kinds(cls):
        return {cls.__name__} | {name for sub in cls.__subclasses__() for name in kinds(sub)}

    assert kinds(polling.RunStopped) - {"RunStopped"} <= cli.STOPS


def test_a_failed_job_says_why_and_that_running_03_again_retries_it_alone(bedrock):
    clients, stub = bedrock
    stub.add_response("get_model_customization_job", job("Failed", "Failed"))
    with pytest.raises(customization.CustomizationFailed, match="3 invalid records; fix the cause and run step 03 again: "
                                                               "it trains again as the next attempt"):
        customization.wait_for_job(BedrockRun(clients, SETTINGS, "unit", lambda s: None), "unit-micro-job")


def test_loss_curves_come_back_in_the_offline_history_shape_one_row_per_step(monkeypatch):
    """Nova writes several training rows per step: averaged per step, as AWS's amazon-nova-samples do."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="nova-b")
        root = "unit/customization/model-customization-job-abcdef012345"
        s3.put_object(Bucket="nova-b", Key=f"{root}/training_artifacts/step_wise_training_metrics.csv",
                      Body=b"step_number,epoch_number,training_loss,perplexity\n0,0,2.5,12.2\n1,0,1.0,2.7\n1,0,2.0,7.4\n")
        s3.put_object(Bucket="nova-b", Key=f"{root}/validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
                      Body=b"step_number,epoch_number,validation_loss,perplexity\n1,0,1.7,5.5\n")
        history = customization.loss_history(BedrockRun(Clients(s3, None, None, None), SETTINGS, "unit"), "s3://nova-b/unit/customization/")
    assert history["step"].tolist() == [0, 1, 1]
    assert history["loss"].dropna().tolist() == [2.5, 1.5] and history["eval_loss"].dropna().tolist() == [1.7]


def summary(name, status):
    return {"jobArn": f"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-micro-v1:0:128k/{name[-12:]}",
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k",
            "jobName": name, "status": status, "creationTime": "2026-11-25T00:00:00Z"}


HYPER = {"epochCount": 2, "learningRate": 1e-5, "learningRateWarmupSteps": 10}
BASE = job_name(SETTINGS, "micro", "0123456789abcdef", HYPER)


def ensure_micro_job(clients, stub, *listed):
    """The micro job's attempts listed as `(suffix, status)`, then the job ensured."""
    stub.add_response("list_model_customization_jobs", {"modelCustomizationJobSummaries": [
        summary(BASE + suffix, status) for suffix, status in listed]}, {"nameContains": BASE})
    return lambda: customization.ensure_customization_job(
        BedrockRun(clients, SETTINGS, "unit"), "micro", "0123456789abcdef", HYPER, "s3://nova-b/unit/data/train.jsonl",
        "s3://nova-b/unit/data/validation.jsonl")


def test_a_failed_job_is_trained_again_alone_under_the_next_attempt_name(bedrock, capsys):
    """The second attempt was stopped: the third is made with the same data and hyperparameters, and nothing else
    is touched (the Stubber fails any other call); the failure it retries is shown with Bedrock's reason."""
    clients, stub = bedrock
    ensure = ensure_micro_job(clients, stub, ("", "Failed"), ("-a2", "Stopped"), ("-other", "Completed"))
    stub.add_response("get_model_customization_job", {**job("Stopped"), "jobName": f"{BASE}-a2",
                                                      "failureMessage": "Stopped by the user"}, {"jobIdentifier": f"{BASE}-a2"})
    stub.add_response("create_model_customization_job", {"jobArn": summary(f"{BASE}-a3", "InProgress")["jobArn"]}, {
        "jobName": f"{BASE}-a3", "customModelName": f"{BASE}-a3", "roleArn": SETTINGS.role_arn,
        "baseModelIdentifier": "amazon.nova-micro-v1:0:128k", "customizationType": "FINE_TUNING",
        "hyperParameters": {"epochCount": "2", "learningRate": "1e-05", "learningRateWarmupSteps": "10"},
        "trainingDataConfig": {"s3Uri": "s3://nova-b/unit/data/train.jsonl"},
        "validationDataConfig": {"validators": [{"s3Uri": "s3://nova-b/unit/data/validation.jsonl"}]},
        "outputDataConfig": {"s3Uri": f"s3://nova-b/unit/customization/{BASE}-a3/"},
        "jobTags": [{"key": "nova-lab-study", "value": "unit"}], "customModelTags": [{"key": "nova-lab-study", "value": "unit"}],
        "clientRequestToken": ANY})
    made = ensure()
    assert (made.name, made.reused) == (f"{BASE}-a3", False)
    assert f"customization job {BASE}-a2 Stopped: Stopped by the user; training again as {BASE}-a3" in capsys.readouterr().out
    stub.assert_no_pending_responses()


def test_the_latest_attempt_is_waited_for_while_it_runs(bedrock):
    clients, stub = bedrock
    made = ensure_micro_job(clients, stub, ("", "Failed"), ("-a2", "InProgress"))()
    assert (made.name, made.reused) == (f"{BASE}-a2", True)


def limited(**hours):
    return SETTINGS.model_copy(update={"wait_hours": WaitHours(**hours)})


def test_a_customization_job_past_its_limit_stops_and_says_it_goes_on(bedrock):
    clients, stub = bedrock
    for _ in range(2):  # 30 s slept, then 45 more would pass the limit of 36 s
        stub.add_response("get_model_customization_job", job("InProgress"), {"jobIdentifier": "unit-micro-job"})
    with pytest.raises(polling.WaitTimedOut, match=r"customization job unit-micro-job is still InProgress after 0.01 h "
                                                   r"\(bedrock.wait_hours.customization_job\): look in the Amazon Bedrock "
                                                   r"console, Custom models > Jobs"):
        customization.wait_for_job(BedrockRun(clients, limited(customization_job=0.01), "unit", lambda s: None),
                                   "unit-micro-job")


DEPLOYMENT = Resource("deployment", "unit-micro-serve", "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef012345")


def deployment(status, **more):
    return {"customModelDeploymentArn": DEPLOYMENT.identifier, "modelDeploymentName": DEPLOYMENT.name,
            "modelArn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef012345",
            "createdAt": "2026-11-25T00:00:00Z", "status": status, **more}


def test_a_deployment_that_failed_says_why_and_one_too_slow_stops(bedrock):
    clients, stub = bedrock
    asked = {"customModelDeploymentIdentifier": DEPLOYMENT.identifier}
    stub.add_response("get_custom_model_deployment", deployment("Failed", failureMessage="The model is not supported"), asked)
    with pytest.raises(customization.ServingFailed, match="deployment unit-micro-serve failed: The model is not supported"):
        customization._wait_until_serving(BedrockRun(clients, SETTINGS, "unit", lambda s: None), DEPLOYMENT)
    stub.add_response("get_custom_model_deployment", deployment("Creating"), asked)
    with pytest.raises(polling.WaitTimedOut, match="deployment unit-micro-serve is still Creating .*wait_hours.deployment"):
        customization._wait_until_serving(BedrockRun(clients, limited(deployment=0.001), "unit", lambda s: None), DEPLOYMENT)
    stub.add_client_error("get_custom_model_deployment", "ExpiredTokenException", "The security token included in the "
                          "request is expired", http_status_code=403)
    with pytest.raises(polling.CredentialsExpired, match="while waiting for deployment unit-micro-serve.*refresh credentials"):
        customization._wait_until_serving(BedrockRun(clients, SETTINGS, "unit", lambda s: None), DEPLOYMENT)
