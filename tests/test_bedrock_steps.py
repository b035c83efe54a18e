"""Bedrock steps chained through the run's state: fine-tuning from the uploaded files to a served
model, checked call by call (Stubber) with S3 under moto."""

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from nova_lab.bedrock import steps
from nova_lab.bedrock.resources import Clients
from nova_lab.data_prep import nova_file
from nova_lab.params import BedrockSettings, FineTuneParams, ParamsError

SETTINGS = BedrockSettings(bucket="nova-lab-test-bucket", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                           study_tag="unit", max_usd=10)
JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-micro-v1:0:128k/abcdef012345"
MODEL_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdef012345"
DEPLOY_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef012345"
NOW = "2026-11-25T00:00:00Z"
CFG = FineTuneParams(run_name="unit", backend="local", model="micro", seed=1, epochCount=2, learningRate=1e-5,
                     learningRateWarmupSteps=10, batchSize=1, lora_r=8, lora_alpha=16, lora_dropout=0.0,
                     lora_target_modules=["q_proj"], eval_every_steps=10, max_seq_tokens=256, bf16=False)


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for split in ("train", "validation"):
        nova_file("unit", split).parent.mkdir(parents=True, exist_ok=True)
        nova_file("unit", split).write_text("{}\n")


def job(status):
    return {"jobArn": JOB_ARN, "jobName": "unit-micro-x", "outputModelName": "unit-micro-x", "outputModelArn": MODEL_ARN,
            "roleArn": SETTINGS.role_arn, "creationTime": NOW,
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k",
            "trainingDataConfig": {"s3Uri": "s3://nova-lab-test-bucket/unit/data/train.jsonl"},
            "validationDataConfig": {"validators": [{"s3Uri": "s3://nova-lab-test-bucket/unit/data/validation.jsonl"}]},
            "outputDataConfig": {"s3Uri": "s3://nova-lab-test-bucket/unit/customization/"}, "status": status}


def deployment(status):
    return {"customModelDeploymentArn": DEPLOY_ARN, "modelDeploymentName": "unit-micro-serve", "modelArn": MODEL_ARN,
            "createdAt": NOW, "status": status}


def test_fine_tune_needs_the_uploads_first(run):
    with pytest.raises(ParamsError, match="01_data_prep"):
        steps.fine_tune(Clients(None, None, None, None), SETTINGS, CFG)


def test_fine_tune_goes_from_the_uploaded_files_to_a_served_model(run):
    steps.update_state("unit", data={"train": "s3://nova-lab-test-bucket/unit/data/train.jsonl",
                                     "validation": "s3://nova-lab-test-bucket/unit/data/validation.jsonl"})
    bedrock = boto3.client("bedrock", region_name="us-east-1")
    with mock_aws(), Stubber(bedrock) as stub:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=SETTINGS.bucket)
        s3.put_object(Bucket=SETTINGS.bucket, Key="unit/customization/job-1/training_artifacts/step_wise_training_metrics.csv",
                      Body=b"step_number,epoch_number,training_loss,perplexity\n0,0,2.0,7.4\n1,0,1.0,2.7\n")
        stub.add_response("list_model_customization_jobs", {"modelCustomizationJobSummaries": []}, {"nameContains": ANY})
        stub.add_response("create_model_customization_job", {"jobArn": JOB_ARN}, {
            "jobName": ANY, "customModelName": ANY, "roleArn": SETTINGS.role_arn, "clientRequestToken": ANY,
            "baseModelIdentifier": "amazon.nova-micro-v1:0:128k", "customizationType": "FINE_TUNING",
            "hyperParameters": {"epochCount": "2", "learningRate": "1e-05", "learningRateWarmupSteps": "10"},
            "trainingDataConfig": {"s3Uri": "s3://nova-lab-test-bucket/unit/data/train.jsonl"},
            "validationDataConfig": {"validators": [{"s3Uri": "s3://nova-lab-test-bucket/unit/data/validation.jsonl"}]},
            "outputDataConfig": ANY, "jobTags": ANY, "customModelTags": ANY})
        stub.add_response("get_model_customization_job", job("InProgress"))
        stub.add_response("get_model_customization_job", job("Completed"))
        stub.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []}, {"nameContains": "unit-micro-serve"})
        stub.add_response("create_custom_model_deployment", {"customModelDeploymentArn": DEPLOY_ARN}, {
            "modelDeploymentName": "unit-micro-serve", "modelArn": MODEL_ARN, "clientRequestToken": ANY, "tags": ANY})
        stub.add_response("get_custom_model_deployment", deployment("Creating"), {"customModelDeploymentIdentifier": DEPLOY_ARN})
        stub.add_response("get_custom_model_deployment", deployment("Active"), {"customModelDeploymentIdentifier": DEPLOY_ARN})
        history = steps.fine_tune(Clients(s3, bedrock, None, None), SETTINGS, CFG, sleep=lambda s: None)
    assert history["loss"].tolist() == [2.0, 1.0]
    served = steps.read_state("unit")["models"]["micro"]
    assert served["serving"] == DEPLOY_ARN and served["serving_kind"] == "deployment"
    assert served["base"] == "amazon.nova-micro-v1:0"


def test_opensearch_is_refused_with_a_clear_message(run):
    with pytest.raises(ParamsError, match="s3_vectors"):
        steps.kb_build(None, SETTINGS.model_copy(update={"vector_store": "opensearch_serverless"}), "unit", 200, 30)
