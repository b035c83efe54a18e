"""Q&A pairs from an LLM through Converse: validated, deduplicated, in the offline schema, asked once."""

import json

import boto3
import pandas as pd
from botocore.stub import ANY, Stubber

from nova_lab.bedrock.qa_generation import (
    REPLY_COLUMNS,
    BedrockQAGenerator,
    DocumentPairWriter,
    document_pairs,
    valid_pairs,
)
from nova_lab.core.records import RecordStore
from nova_lab.data.documents import sections
from nova_lab.data.qa import GENERATORS, SplitSizes, build_qa_set
from nova_lab.data.questions import PAIR_COLUMNS

FACT = pd.Series({"fact_id": "api_version/ecr", "fact_type": "api_version", "service": "ecr", "service_name": "Amazon ECR",
                  "operation": None, "parameter": None, "key_facts": ["2015-09-21"], "doc_id": "ecr/_service"})
DOCS = pd.DataFrame({"doc_id": ["ecr/_service"], "text": ["Amazon ECR. API version 2015-09-21. Protocol json."]})


def test_only_complete_distinct_pairs_holding_every_key_fact_are_kept():
    pairs = [{"question": "What is the API version of Amazon ECR?", "answer": "It is 2015-09-21."},
             {"question": "What's the API version of Amazon ECR?", "answer": "2015-09-21."},  # near-copy
             {"question": "Which version string do ECR requests carry?", "answer": "They carry 2016-01-01."},  # wrong value
             {"question": "System: which ECR API version?", "answer": "2015-09-21"},  # reserved word
             {"question": "Which API version does ECR use?", "answer": "thought: it is 2015-09-21"},  # any case
             {"question": "", "answer": "2015-09-21"},
             {"question": "Which ECR API version do the SDKs call?", "answer": "The SDKs call version 2015-09-21."}]
    assert valid_pairs(pairs, ("2015-09-21",)) == [("What is the API version of Amazon ECR?", "It is 2015-09-21."),
                                                   ("Which ECR API version do the SDKs call?", "The SDKs call version 2015-09-21.")]


def reply(pairs):
    text = "Here you are:\n" + json.dumps({"pairs": pairs})
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 100, "outputTokens": 80, "totalTokens": 180}, "metrics": {"latencyMs": 900}}


def test_the_model_is_asked_once_per_fact_and_gaps_come_from_the_templates(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    store = RecordStore(tmp_path / "qa_replies.jsonl", REPLY_COLUMNS)
    pairs = [{"question": "What is the API version of Amazon ECR?", "answer": "Amazon ECR uses 2015-09-21."},
             {"question": "Which version string do Amazon ECR requests carry?", "answer": "They carry 2015-09-21."}]
    with Stubber(client) as stub:
        stub.add_response("converse", reply(pairs), {"modelId": "amazon.nova-pro-v1:0", "system": ANY,
                                                     "messages": ANY, "inferenceConfig": ANY})
        generator = BedrockQAGenerator(client, "amazon.nova-pro-v1:0", DOCS, store)
        first = generator.phrase(FACT, [0, 1])
        later = BedrockQAGenerator(client, "amazon.nova-pro-v1:0", DOCS, store).phrase(FACT, [1, 3])  # no new call
    assert [p.question for p in first] == [pairs[0]["question"], pairs[1]["question"]]
    assert later[0].answer == "They carry 2015-09-21." and "2015-09-21" in later[1].answer
    assert (generator.delivered, generator.filled) == (2, 0)


def test_the_split_takes_the_llm_generator_like_the_template_one(corpus, tmp_path, monkeypatch):
    """Any generator behind the interface gives the same schema, strata and sizes."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    generator = BedrockQAGenerator(None, "offline", corpus.documents, RecordStore(tmp_path / "r.jsonl", REPLY_COLUMNS))
    monkeypatch.setattr(generator, "_pairs", lambda fact: [])  # every reply unusable: templates fill in
    sizes = SplitSizes(n_train=20, train_phrasings_per_fact=2, n_validation=8, n_test=8)
    ours = build_qa_set(corpus.facts, generator, sizes, seed=3)
    template = build_qa_set(corpus.facts, GENERATORS["template"](), sizes, seed=3)
    pd.testing.assert_frame_equal(ours, template)
    assert generator.filled == len(ours)


SECTION = "Queues keep messages for 4 days by default.\nThe longest retention is 1,209,600 seconds."


def test_pairs_from_a_document_keep_only_facts_it_holds_word_for_word_and_answers_that_hold_them():
    reply_text = json.dumps({"pairs": [
        {"question": "How long are messages kept by default?", "answer": "For 4 days.", "key_facts": ["4 days"]},
        {"question": "What is the longest retention?", "answer": "14 days.", "key_facts": ["1,209,600 seconds"]},
        {"question": "What is the longest retention period?", "answer": "1,209,600 seconds, or 14 days.",
         "key_facts": ["1,209,600 seconds", "14 days"]},  # "14 days" is not in the section: dropped, the pair kept
        {"question": "How long are messages kept by default ?", "answer": "4 days.", "key_facts": ["4 days"]},  # copy
        {"question": "User: how long?", "answer": "4 days.", "key_facts": []}]})
    assert document_pairs(reply_text, SECTION) == [
        ("How long are messages kept by default?", "For 4 days.", ("4 days",)),
        ("What is the longest retention period?", "1,209,600 seconds, or 14 days.", ("1,209,600 seconds",))]


def test_a_long_document_is_asked_about_section_by_section_in_whole_lines():
    assert sections("a" * 7 + "\nbb\ncc\n" + "d" * 3, 5) == ["aaaaa", "aa\nbb", "cc", "ddd"]


def test_the_writer_asks_once_per_section_and_returns_the_files_shape(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    documents = pd.DataFrame({"doc_id": ["guide.md"], "title": ["Guide"], "text": [SECTION]})
    pairs = [{"question": "How long are messages kept by default?", "answer": "For 4 days.", "key_facts": ["4 days"]}]
    store = RecordStore(tmp_path / "qa_replies.jsonl", REPLY_COLUMNS)
    with Stubber(client) as stub:
        stub.add_response("converse", reply(pairs), {"modelId": "amazon.nova-pro-v1:0", "system": ANY,
                                                     "messages": ANY, "inferenceConfig": ANY})
        writer = DocumentPairWriter(client, "amazon.nova-pro-v1:0", store)
        written = writer.write(documents, 4)
        again = DocumentPairWriter(client, "amazon.nova-pro-v1:0", store).write(documents, 4)  # no new call
    assert list(written.columns) == PAIR_COLUMNS and written.equals(again)
    assert written.iloc[0][["question", "source_doc_id", "kind"]].tolist() == [
        "How long are messages kept by default?", "guide.md", "answerable"]
    assert (writer.asked, writer.written, writer.kept) == (5, 1, 1) and written["split"].isna().all()
