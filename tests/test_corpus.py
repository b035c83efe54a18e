import html
import json
import re

from nova_lab.core import paths
from nova_lab.core.caching import fingerprint
from nova_lab.data.corpus import botocore_version, extract_service, first_sentence, html_to_text, load_service
from nova_lab.data.data_prep import load_corpus


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


def test_a_note_on_where_an_operation_is_supported_is_not_what_it_does():
    """S3 opens 57 operations' documentation with "This operation is not supported for directory buckets.":
    taken as the statement, "what does s3 X do?" would have a reference that says nothing of what X does."""
    note = "<note><p>This operation is not supported for directory buckets.</p></note>"
    assert first_sentence(f"{note}<p>Deletes the policy of a specified bucket.</p>") == \
        "deletes the policy of a specified bucket"
    assert first_sentence(note) is None
    _, facts = extract_service("s3")
    statements = [fact.statement for fact in facts if fact.fact_type == "operation_purpose"]
    assert len(statements) > 70
    assert not [s for s in statements if re.match(r"(this|the) (operation|action|api)\b|.*\bnot supported for directory", s)]
    assert not {s for s in statements if statements.count(s) > 1}, "a statement several operations share is boilerplate"


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
    import nova_lab.data.data_prep as data_prep

    monkeypatch.setattr(data_prep, "extract_corpus", lambda services: (_ for _ in ()).throw(AssertionError("re-extracted")))
    again = load_corpus(list(reversed(corpus.documents["service"].unique())))
    assert again.documents.equals(corpus.documents)


def committed_manifest() -> dict:
    """The run manifest the committed analysis shows (06's folded JSON, as report.details writes it)."""
    notebook = json.loads((paths.PROJ_ROOT / "outputs" / "study" / "06_analysis.ipynb").read_text(encoding="utf-8"))
    shown = ["".join(output["data"]["text/html"]) for cell in notebook["cells"] for output in cell.get("outputs", [])
             if "The run manifest (JSON)" in "".join(output.get("data", {}).get("text/html", ""))]
    return json.loads(html.unescape(shown[0].split("<pre>", 1)[1].rsplit("</pre>", 1)[0]))


def test_a_fresh_install_builds_the_corpus_the_committed_run_was_made_from():
    """botocore's models are the corpus: a newer botocore adds documents, and so other test questions and
    other findings than the committed 06 and the README's. The pins must give back the committed corpus."""
    manifest = committed_manifest()
    data = manifest["data"]
    assert botocore_version() == data["botocore"], (
        f"botocore {botocore_version()} is installed, the committed run was made with {data['botocore']}: "
        "pin botocore in pyproject.toml and environment.yml")
    corpus = load_corpus(manifest["params"]["shared"]["services"])
    assert corpus.stats() == data["corpus"]
    assert fingerprint(corpus.documents["doc_id"].tolist(), corpus.documents["text"].tolist()) == data["documents_key"]
