import re

from nova_lab.corpus import extract_service, html_to_text, load_service
from nova_lab.data_prep import load_corpus


def test_one_overview_and_one_document_per_operation():
    documents, facts = extract_service("sqs")
    operations = load_service("sqs").operation_names
    assert [d.doc_id for d in documents] == ["sqs/_service"] + [f"sqs/{op}" for op in operations]
    assert {f.fact_type for f in facts} >= {"api_version", "protocol", "required_parameters", "errors"}


def test_documents_are_clean_text():
    documents, _ = extract_service("s3")
    for document in documents:
        assert not re.search(r"</?(p|a|code|ul|li|b)\b", document.text), document.doc_id
        assert "  " not in document.text
    assert html_to_text("<p>Use <code>PutObject</code>.</p>") == "Use PutObject ."


def test_every_fact_is_stated_in_its_document(corpus):
    """The knowledge base must hold every fact a question can ask, or `unseen` is unanswerable."""
    text = corpus.documents.set_index("doc_id")["text"]
    for fact in corpus.facts.itertuples():
        for value in fact.key_facts:
            assert value in text[fact.doc_id], (fact.fact_id, value)


def test_stats_count_what_was_extracted(corpus):
    stats = corpus.stats()
    assert stats["services"] == 6
    assert stats["documents"] == len(corpus.documents) == corpus.documents["doc_id"].nunique()
    assert stats["facts"] + stats["probes"] == len(corpus.facts) == corpus.facts["fact_id"].nunique()
    assert stats["probes"] > 0
    assert stats["words"] > 100_000


def test_corpus_is_cached_by_its_services(corpus, monkeypatch):
    import nova_lab.data_prep as data_prep

    monkeypatch.setattr(data_prep, "extract_corpus", lambda services: (_ for _ in ()).throw(AssertionError("re-extracted")))
    again = load_corpus(list(reversed(corpus.documents["service"].unique())))
    assert again.documents.equals(corpus.documents)
