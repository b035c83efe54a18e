"""Bedrock steps chained through the run's state: fine-tuning from the uploaded files to a served
model, checked call by call (Stubber) with S3 under moto."""

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from nova_lab.bedrock import customization, steps
from nova_lab.bedrock.judge import BedrockJudge
from nova_lab.bedrock.resources import Clients
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.runtime import BedrockRetriever
from nova_lab.bedrock.state import read_state, update_state
from nova_lab.core.params import BedrockSettings, FineTuneParams, ParamsError
from nova_lab.data.data_prep import nova_file

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


def test_a_state_write_stopped_midway_keeps_the_state_before(run, monkeypatch):
    """The state holds billed resources' ids: a kill while writing must not tear it (the teardown reads it)."""
    from nova_lab.core import caching

    update_state("unit", knowledge_base={"id": "KB12345678"})

    def killed(path, write):
        write(path.with_name(f"{path.name}.tmp"))
        raise KeyboardInterrupt

    monkeypatch.setattr(caching, "write_whole", killed)
    with pytest.raises(KeyboardInterrupt):
        update_state("unit", models={"micro": {"deployment_arn": DEPLOY_ARN}})
    assert read_state("unit") == {"knowledge_base": {"id": "KB12345678"}}


def test_fine_tune_needs_the_uploads_first(run):
    with pytest.raises(ParamsError, match="01_data_prep"):
        customization.fine_tune(BedrockRun(Clients(None, None, None, None), SETTINGS, "unit"), CFG)


def test_fine_tune_goes_from_the_uploaded_files_to_a_served_model(run):
    update_state("unit", data={"train": "s3://nova-lab-test-bucket/unit/data/train.jsonl",
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
        stub.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []}, {"nameContains": ANY})
        stub.add_response("create_custom_model_deployment", {"customModelDeploymentArn": DEPLOY_ARN}, {
            "modelDeploymentName": ANY, "modelArn": MODEL_ARN, "clientRequestToken": ANY, "tags": ANY})
        stub.add_response("get_custom_model_deployment", deployment("Creating"), {"customModelDeploymentIdentifier": DEPLOY_ARN})
        stub.add_response("get_custom_model_deployment", deployment("Active"), {"customModelDeploymentIdentifier": DEPLOY_ARN})
        result = customization.fine_tune(BedrockRun(Clients(s3, bedrock, None, None), SETTINGS, "unit", lambda s: None), CFG)
    assert result.history["loss"].tolist() == [2.0, 1.0]
    assert result.manifest["serving"] == DEPLOY_ARN and result.manifest["hyperparameters"]["epochCount"] == CFG.epochCount
    served = read_state("unit")["models"]["micro"]
    assert served["serving"] == DEPLOY_ARN and served["serving_kind"] == "deployment"
    assert served["base"] == "amazon.nova-micro-v1:0"


def converse_reply(text):
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 29}, "metrics": {"latencyMs": 300}}


@pytest.mark.parametrize("store, search", [("s3_vectors", "SEMANTIC"), ("opensearch_serverless", "HYBRID")])
def test_inference_then_judging_fill_the_offline_stores(run, store, search):
    import pandas as pd

    from nova_lab.core import results
    from nova_lab.core.params import InferenceParams, JudgingParams
    from nova_lab.judging import verdicts

    settings = SETTINGS.model_copy(update={"concurrency": 1, "vector_store": store})
    update_state("unit", knowledge_base={"id": "KB12345678"}, models={"micro": {
        "base": "amazon.nova-micro-v1:0", "serving": DEPLOY_ARN}})
    questions = pd.DataFrame({"id": ["q1"], "question": ["What is the API version of Amazon ECR?"],
                              "reference_answer": ["Amazon ECR uses API version 2015-09-21."], "key_facts": [["2015-09-21"]],
                              "stratum": ["seen"], "kind": ["exact value"]})
    cfg = InferenceParams(run_name="unit", backend="local", model="micro", seed=1, rag_top_k=1, rrf_k=60,
                          max_new_tokens=16, batch_size=1, latency_sample=1, bf16=False)
    converse = boto3.client("bedrock-runtime", region_name="us-east-1")
    agent = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    clients = Clients(None, None, None, None, converse, agent)
    with Stubber(converse) as c, Stubber(agent) as a:
        for _ in range(2):  # the answers, then the latency sample asked again one request at a time
            a.add_response("retrieve", {"retrievalResults": []}, {  # hybrid like offline where the store has it
                "knowledgeBaseId": "KB12345678", "retrievalQuery": {"text": questions.question[0]},
                "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 1, "overrideSearchType": search}}})
            for _ in range(4):
                c.add_response("converse", converse_reply("Amazon ECR uses API version 2015-09-21."))
        for judge in settings.judge_models:
            for _ in range(4):
                c.add_response("converse", converse_reply('{"score": 8, "rationale": "right"}'),
                               {"modelId": judge, "system": ANY, "messages": ANY, "inferenceConfig": ANY})
        progress = steps.inference(BedrockRun(clients, settings, "unit"), cfg, questions)
        assert (progress["answered_now"], progress["timed_now"], progress["failed"]) == (4, 4, [])
        answers = results.read_answers("unit", "micro", questions)
        judging_cfg = JudgingParams(run_name="unit", backend="local", model="micro", judges=["semantic", "fact_check"],
                                    meta_eval_questions=2)
        judges = [BedrockJudge(converse, model_id, concurrency=1) for model_id in settings.judge_models]
        verdicts.run(judging_cfg, answers, questions, judges)
    assert len(results.read_latency("unit", "micro", questions)) == 4  # the one sampled question, four ways
    scored = verdicts.read_scored("unit", "micro", answers, questions)
    assert set(scored["judge"]) == set(settings.judge_models) and (scored["score"] == 8).all()


def test_retrieval_table_through_retrieve_is_the_offline_one(run):
    import pandas as pd

    from nova_lab.retrieval import retrieval_eval
    questions = pd.DataFrame({"id": ["q1", "q2"], "question": ["a?", "b?"], "stratum": ["seen", "unseen"],
                              "source_doc_id": ["s3/PutObject", "s3/GetObject"]})
    agent = boto3.client("bedrock-agent-runtime", region_name="us-east-1")

    def hit(doc):
        uri = f"s3://nova-lab-test-bucket/unit/study/corpus/{doc}.txt"
        return {"content": {"text": doc}, "location": {"type": "S3", "s3Location": {"uri": uri}}, "score": 0.5,
                "metadata": {"x-amz-bedrock-kb-source-uri": uri}}

    with Stubber(agent) as stub:
        for question, found in (("a?", ["s3/PutObject"]), ("b?", ["s3/ListBuckets", "s3/GetObject"])):
            stub.add_response("retrieve", {"retrievalResults": [hit(d) for d in found]}, {
                "knowledgeBaseId": "KB12345678", "retrievalQuery": {"text": question},
                "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 10,
                                                                         "overrideSearchType": "SEMANTIC"}}})
        retriever = BedrockRetriever(agent, "KB12345678")
        table = retrieval_eval.summarize(retrieval_eval.rank_of_source(retriever, questions, ("vector",)))
    overall = table[table["stratum"] == "all"].iloc[0]
    assert overall["mode"] == "vector" and overall["recall@1"] == 0.5 and overall["MRR"] == 0.75
