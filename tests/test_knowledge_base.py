import math

import pandas as pd
import pytest

from nova_lab.core.params import DataPrepParams, KnowledgeBaseParams
from nova_lab.data import data_prep
from nova_lab.retrieval import embeddings, kb_build
from nova_lab.retrieval.chunking import chunk_documents
from nova_lab.retrieval.knowledge_base import MODES, CachedRetriever, LanceKnowledgeBase, build_table
from nova_lab.retrieval.retrieval_eval import rank_of_source, summarize


@pytest.fixture(scope="module")
def sqs_kb(tmp_path_factory, corpus):
    documents = corpus.documents[corpus.documents["service"] == "sqs"]
    chunks = chunk_documents(documents, embeddings.tokenizer(), 128, 16)
    folder = tmp_path_factory.mktemp("kb")
    build_table(folder / "lancedb", chunks, embeddings.embed(chunks["text"].tolist(), folder / "emb.sqlite",
                                                             progress=False))
    return LanceKnowledgeBase(folder / "lancedb", lambda q: embeddings.embed([q], progress=False)[0])


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
@pytest.mark.parametrize("mode", MODES)
def test_known_question_finds_its_source_in_top_5(sqs_kb, mode):
    passages = sqs_kb.retrieve("Which parameters are required when calling the SendMessage operation of Amazon SQS?",
                               k=5, mode=mode)
    assert len(passages) == 5
    assert "sqs/SendMessage" in [p.doc_id for p in passages]
    assert all(p.chunk_id.startswith(p.doc_id + "#") and p.text for p in passages)
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
def test_service_question_finds_the_overview(sqs_kb):
    passages = sqs_kb.retrieve("What is the API version of Amazon SQS?", k=5)
    assert "sqs/_service" in [p.doc_id for p in passages]


def test_metrics_by_hand():
    ranks = pd.DataFrame({"id": list("abcd"), "stratum": ["seen", "seen", "unseen", "unseen"],
                          "mode": "hybrid", "rank": [1, 3, math.nan, 7], "latency_ms": [1.0, 2.0, 3.0, 4.0]})
    row = summarize(ranks).set_index(["mode", "stratum"]).loc[("hybrid", "all")]
    assert row["recall@1"] == 0.25 and row["recall@5"] == 0.5 and row["recall@10"] == 0.75
    assert row["MRR"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 7) / 4)
    assert row["p50_latency_ms"] == 2.5 and row["questions"] == 4
    assert summarize(ranks).set_index(["mode", "stratum"]).loc[("hybrid", "seen"), "MRR"] == pytest.approx(2 / 3)


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
def test_rank_of_source_reads_the_retriever(sqs_kb):
    questions = pd.DataFrame([{"id": "q1", "stratum": "seen", "source_doc_id": "sqs/SendMessage",
                               "question": "Which parameters are required when calling the SendMessage operation of Amazon SQS?"},
                              {"id": "q2", "stratum": "unseen", "source_doc_id": "sns/Publish", "question": "SNS Publish?"}])
    ranks = rank_of_source(sqs_kb, questions, modes=("keyword",)).set_index("id")["rank"]
    assert 1 <= ranks["q1"] <= 5 and math.isnan(ranks["q2"])


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
def test_build_is_reused_and_a_new_overlap_embeds_only_new_chunks(monkeypatch):
    data_prep.prepare(DataPrepParams(run_name="unit", backend="local", seed=1, services=["sqs"],
                                     qa_generator="template", n_train=16, train_phrasings_per_fact=2,
                                     n_validation=8, n_test=4))
    cfg = KnowledgeBaseParams(run_name="unit", backend="local", chunk_tokens=128, chunk_overlap=16,
                              embedding_batch_size=32, rrf_k=60)
    first = kb_build.build(cfg)
    assert first["reused"] is False and first["chunks"] == len(kb_build.read_chunks("unit"))
    encoded = []
    real_encode = embeddings._encode
    monkeypatch.setattr(embeddings, "_encode", lambda texts, *a, **k: encoded.extend(texts) or real_encode(texts, *a, **k))
    assert kb_build.build(cfg)["reused"] is True and encoded == []
    second = kb_build.build(cfg.model_copy(update={"chunk_overlap": 24}))  # first windows stay the same
    assert second["reused"] is False
    new_texts = set(kb_build.read_chunks("unit")["text"]) - set(chunk_documents(
        data_prep.read_documents("unit"), embeddings.tokenizer(), 128, 16)["text"])
    assert set(encoded) == new_texts and len(encoded) < second["chunks"]


class CountingRetriever:
    def __init__(self, inner):
        self.inner, self.searches = inner, 0

    def retrieve(self, query, k=5, mode="hybrid"):
        self.searches += 1
        return self.inner.retrieve(query, k, mode)


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
def test_kept_search_results_are_the_searchs_and_are_searched_once(sqs_kb, tmp_path):
    counting = CountingRetriever(sqs_kb)
    kept = CachedRetriever(counting, "kb-1", tmp_path / "results.sqlite")
    query = "Which parameters are required when calling the SendMessage operation of Amazon SQS?"
    first = kept.retrieve(query, 3)
    again = CachedRetriever(counting, "kb-1", tmp_path / "results.sqlite").retrieve(query, 3)  # a re-run
    assert first == again == sqs_kb.retrieve(query, 3) and counting.searches == 1
    kept.retrieve(query, 4), kept.retrieve(query, 3, "keyword")
    CachedRetriever(counting, "kb-2", tmp_path / "results.sqlite").retrieve(query, 3)  # a rebuilt store
    assert counting.searches == 4


@pytest.mark.slow  # loads the embedding model: the fast lane loads no model
def test_the_retrieval_table_is_kept_by_the_stores_search_key(sqs_kb):
    questions = pd.DataFrame({"id": ["q1"], "stratum": ["seen"], "source_doc_id": ["sqs/SendMessage"],
                              "question": ["Which parameters are required when calling SendMessage of Amazon SQS?"]})
    counting = CountingRetriever(sqs_kb)
    first = rank_of_source(counting, questions, ("hybrid",), search_key="kb-ranks-1")
    again = rank_of_source(counting, questions, ("hybrid",), search_key="kb-ranks-1")
    pd.testing.assert_frame_equal(first, again)
    assert counting.searches == 1
    rank_of_source(counting, questions, ("hybrid",), search_key="kb-ranks-2")
    rank_of_source(counting, questions, ("hybrid",))  # a store without a key (Bedrock) is searched every time
    assert counting.searches == 3
