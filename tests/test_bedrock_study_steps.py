"""Steps 01 and 04 on Bedrock: uploads with moto; answers through Retrieve and Converse with
Stubber, in the offline answer records, resumed with no call repeated."""

import boto3
import pandas as pd
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from nova_lab.bedrock import answering
from nova_lab.bedrock.resources import Clients
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.runtime import run_jobs
from nova_lab.bedrock.study_data import doc_id_of, object_name, upload_study_data
from nova_lab.core import paths
from nova_lab.core.params import BedrockSettings, InferenceParams, for_step, load_params
from nova_lab.core.records import ANSWER_COLUMNS, RecordStore
from nova_lab.data.nova_format import SYSTEM_PROMPT

SETTINGS = BedrockSettings(bucket="nova-lab-test-bucket", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                           study_tag="unit", max_usd=10)
DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef012345"
QUESTIONS = pd.DataFrame({"id": ["q1"], "question": ["What is the API version of Amazon S3?"], "stratum": ["seen"],
                          "kind": ["exact value"]})


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_corpus_and_nova_files_are_uploaded_under_the_study_prefix(monkeypatch, tmp_path):
    from nova_lab.data import data_prep

    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    params = for_step(load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "smoke.yaml"), "01_data_prep")
    data_prep.prepare(data_prep.DataPrepParams(**params))
    with mock_aws():
        clients = Clients.create(SETTINGS)
        clients.s3.create_bucket(Bucket=SETTINGS.bucket)
        clients.s3.put_object(Bucket=SETTINGS.bucket, Key="unit/smoke/corpus/old/Gone.txt", Body=b"a stale document")
        uris = upload_study_data(BedrockRun(clients, SETTINGS, "smoke"))
        keys = [o["Key"] for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=SETTINGS.bucket)
                for o in page.get("Contents", [])]
    documents = data_prep.read_documents("smoke")
    assert "unit/smoke/corpus/old/Gone.txt" not in keys  # the knowledge base must not ingest it
    assert uris == {"corpus": "s3://nova-lab-test-bucket/unit/smoke/corpus/",
                    "train": "s3://nova-lab-test-bucket/unit/smoke/data/train.jsonl",
                    "validation": "s3://nova-lab-test-bucket/unit/smoke/data/validation.jsonl"}
    assert sorted(keys) == sorted([f"unit/smoke/corpus/botocore/{d}.txt" for d in documents["doc_id"]] +
                                  ["unit/smoke/data/train.jsonl", "unit/smoke/data/validation.jsonl"])
    corpus = sorted(f"s3://{SETTINGS.bucket}/{k}" for k in keys if "/corpus/" in k)
    assert [doc_id_of(uri) for uri in corpus] == sorted(documents["doc_id"])  # a Retrieve source maps back


def test_your_own_files_go_up_as_they_are_and_map_back_to_their_paths_in_the_folder():
    doc_ids = ["guide.md", "notes.txt", "corpus/setup.pdf", "botocore/index.html"]  # a name like ours changes nothing
    uris = [f"s3://bucket/unit/mine/corpus/{object_name(doc_id, own=True)}" for doc_id in doc_ids]
    assert uris[1] == "s3://bucket/unit/mine/corpus/own/notes.txt"
    assert [doc_id_of(uri) for uri in uris] == doc_ids


def converse_reply(text):
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 29}, "metrics": {"latencyMs": 300}}


def test_four_configurations_become_offline_records_and_resume_with_no_call(tmp_path):
    cfg = InferenceParams(run_name="unit", backend="local", model="micro", seed=1, rag_top_k=2, rrf_k=60,
                          max_new_tokens=32, batch_size=1, latency_sample=0, bf16=False)
    converse = boto3.client("bedrock-runtime", region_name="us-east-1")
    agent = boto3.client("bedrock-agent-runtime", region_name="us-east-1")
    store = RecordStore(tmp_path / "answers.jsonl")
    model_ids = {"base": "amazon.nova-micro-v1:0", "ft": DEPLOYMENT}
    uri = "s3://nova-lab-test-bucket/unit/corpus/s3/_service.txt"
    with Stubber(converse) as c, Stubber(agent) as a:
        for configuration, model_id in (("base", model_ids["base"]), ("rag", model_ids["base"]),
                                        ("ft", DEPLOYMENT), ("ft_rag", DEPLOYMENT)):
            if configuration == "rag":  # one Retrieve for the question, shared by rag and ft_rag
                a.add_response("retrieve", {"retrievalResults": [{
                    "content": {"text": "Amazon S3 API version 2006-03-01", "type": "TEXT"},
                    "location": {"type": "S3", "s3Location": {"uri": uri}}, "score": 0.8,
                    "metadata": {"x-amz-bedrock-kb-source-uri": uri, "x-amz-bedrock-kb-chunk-id": "c1"}}]}, {
                    "knowledgeBaseId": "KB12345678", "retrievalQuery": {"text": QUESTIONS.question[0]},
                    "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 2}}})
            c.add_response("converse", converse_reply(f"{configuration} answer"), {
                "modelId": model_id, "system": [{"text": SYSTEM_PROMPT}], "messages": ANY,
                "inferenceConfig": {"maxTokens": 32, "temperature": 0.0}})
        retrieval = answering.Retrieval(agent, "KB12345678", cfg.rag_top_k)
        progress, again = (run_jobs(answering.jobs(converse, retrieval, QUESTIONS, cfg, model_ids),
                                    store, concurrency=1, desc="converse") for _ in range(2))
    assert progress["made_now"] == 4 and again["made_now"] == 0  # the Stubbers would fail a fifth call
    records = store.frame().set_index("configuration")
    assert list(store.frame().columns) == ANSWER_COLUMNS
    assert records.loc["rag", "retrieved_chunk_ids"] == ["c1"] and records.loc["base", "retrieved_chunk_ids"] == []
    assert records.loc["ft", "adapter_key"] == DEPLOYMENT and records.loc["ft_rag", "answer"] == "ft_rag answer"
    assert (records["total_tokens"] == 29).all() and (records["backend"] == "bedrock").all()


def test_back_to_earlier_settings_under_replay_reads_the_earlier_answers(monkeypatch, tmp_path):
    """64 -> 32 -> 64 max tokens: recorded against Stubber, then replayed with no account into a fresh
    tree; the third run asks nothing (a replay would stop on a request it did not record) and step 04,
    05 and 06 read the 64-token answers and timings, not the 32-token ones appended last."""
    from nova_lab.bedrock import steps
    from nova_lab.bedrock.recording import Recording
    from nova_lab.bedrock.state import update_state
    from nova_lab.core import results

    questions = QUESTIONS.assign(reference_answer="2006-03-01", key_facts=[["2006-03-01"]])
    settings = SETTINGS.model_copy(update={"concurrency": 1})

    def step_04(max_new_tokens):
        cfg = InferenceParams(run_name="unit", backend="local", model="micro", seed=1, rag_top_k=1, rrf_k=60,
                              max_new_tokens=max_new_tokens, batch_size=1, latency_sample=1, bf16=False)
        return steps.inference(BedrockRun(clients, settings, "unit"), cfg, questions)

    def clients_for(mode):
        made = Clients(None, None, None, None, boto3.client("bedrock-runtime", region_name="us-east-1"),
                       boto3.client("bedrock-agent-runtime", region_name="us-east-1"))
        recording = Recording(tmp_path / "recording.jsonl", mode, "04_inference/micro")
        for client in (made.bedrock_runtime, made.agent_runtime):
            recording.attach(client)
        return made

    def prepare(outputs):
        monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / outputs))
        update_state("unit", knowledge_base={"id": "KB12345678"},
                     models={"micro": {"base": "amazon.nova-micro-v1:0", "serving": DEPLOYMENT}})

    prepare("recorded")
    clients = clients_for("record")
    with Stubber(clients.bedrock_runtime) as c, Stubber(clients.agent_runtime) as a:
        for max_new_tokens in (64, 32):
            for _ in range(2):  # the answers, then the timed sample (the one question) asked again
                a.add_response("retrieve", {"retrievalResults": []})
                for _ in range(4):
                    c.add_response("converse", converse_reply(f"{max_new_tokens}-token answer"))
        step_04(64), step_04(32)
        assert step_04(64)["answered_now"] == 0  # the Stubbers would fail on any further call

    prepare("replayed")
    clients = clients_for("replay")
    for max_new_tokens in (64, 32, 64):
        step_04(max_new_tokens)
    answers = results.read_answers("unit", "micro", questions)
    latency = results.read_latency("unit", "micro", questions)
    assert (answers["answer"] == "64-token answer").all() and (answers["max_new_tokens"] == 64).all()
    assert len(latency) == 4 and (latency["max_new_tokens"] == 64).all()
