import pandas as pd
import pytest

from nova_lab.retrieval.chunking import chunk_documents, chunk_text
from nova_lab.retrieval.embeddings import tokenizer


@pytest.fixture(scope="module")
def tok():
    return tokenizer()


TEXT = " ".join(f"word{i} alpha beta gamma." for i in range(300))


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_windows_have_the_size_and_overlap_asked_for(tok):
    chunks = chunk_text(TEXT, tok, size=50, overlap=10)
    lengths = [len(ids(tok, c)) for c in chunks]
    assert max(lengths) <= 50 and lengths[0] == 50
    for before, after in zip(chunks, chunks[1:]):
        shared = next(after[:n] for n in range(len(after), 0, -1) if before.endswith(after[:n]))
        assert 9 <= len(ids(tok, shared)) <= 11  # 10 tokens, give or take a word piece at the cut


def test_chunks_cover_the_whole_text_in_order(tok):
    chunks = chunk_text(TEXT, tok, size=64, overlap=0)
    assert "".join(chunks).replace(" ", "") == TEXT.replace(" ", "")


def test_short_and_empty_texts(tok):
    assert chunk_text("Just a few words.", tok, 50, 10) == ["Just a few words."]
    assert chunk_text("", tok, 50, 10) == []


def test_documents_chunks_keep_their_source_and_title_within_budget(tok):
    docs = pd.DataFrame([{"doc_id": "sqs/SendMessage", "title": "Amazon SQS SendMessage", "text": TEXT},
                         {"doc_id": "sqs/_service", "title": "Amazon SQS API overview", "text": "API version: 2012-11-05."}])
    chunks = chunk_documents(docs, tok, size=64, overlap=8)
    assert set(chunks["doc_id"]) == {"sqs/SendMessage", "sqs/_service"}
    assert chunks["chunk_id"].is_unique
    assert all(c.chunk_id.startswith(c.doc_id + "#") for c in chunks.itertuples())
    for chunk in chunks.itertuples():
        assert chunk.text.startswith(docs.set_index("doc_id").loc[chunk.doc_id, "title"] + "\n")
        assert len(ids(tok, chunk.text)) <= 64
