"""The study on the user's own documents and Q&A file: the built-in study exported and read back is the same study,
and each bad input is one clear error, before anything is written."""

import io
import json

import pandas as pd
import pytest
from pypdf import PdfReader, PdfWriter

from nova_lab import cli
from nova_lab.bedrock.study_data import check_uploadable
from nova_lab.core import paths
from nova_lab.core.params import DataPrepParams, ParamsError, load_params, parse
from nova_lab.data import data_prep
from nova_lab.data.documents import DocumentsError, read_folder
from nova_lab.data.questions import MAX_TRAIN, QuestionsError, check_reserved_words, check_sizes, read_questions

SMOKE = load_params(paths.PARAMS / "smoke.yaml")
CFG = DataPrepParams(**{name: getattr(SMOKE, name) for name in DataPrepParams.model_fields})
COMPARED = ["id", "question", "reference_answer", "split", "stratum", "kind", "fact_id"]


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose page shows `text` in Helvetica, with its cross-reference table."""
    stream = f"BT /F1 18 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
               b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
               b"<</Length %d>>stream\n%s\nendstream" % (len(stream), stream),
               b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


TEXT_PDF = text_pdf("A queue keeps messages")


def exported(tmp_path):
    """The smoke study's 01 (built-in), exported with `nova-lab export`, and 01 again on the export."""
    built_in = data_prep.prepare(CFG)
    assert cli.main(["export", str(tmp_path / "mine"), "--run", CFG.run_name]) == 0
    own = CFG.model_copy(update={"run_name": "own", "documents": str(tmp_path / "mine" / "documents"),
                                 "questions": str(tmp_path / "mine" / "questions.csv")})
    return built_in, data_prep.prepare(own), own


def test_the_exported_study_read_back_is_the_same_documents_and_the_same_qa_set(tmp_path):
    built_in, own, _ = exported(tmp_path)
    documents = built_in.corpus.documents.assign(doc_id=built_in.corpus.documents["doc_id"] + ".md")
    pd.testing.assert_frame_equal(documents.set_index("doc_id").sort_index()[["title", "text", "service"]],
                                  own.corpus.documents.set_index("doc_id").sort_index()[["title", "text", "service"]])
    pd.testing.assert_frame_equal(built_in.qa[COMPARED].sort_values("id").reset_index(drop=True),
                                  own.qa[COMPARED].sort_values("id").reset_index(drop=True))
    assert built_in.qa["key_facts"].map(list).tolist() == own.qa["key_facts"].map(list).tolist()
    assert own.documents_read["read"].all() and len(own.documents_read) == len(documents) == 67
    assert own.qa.groupby(["split", "stratum"]).size().to_dict() == {
        ("test", "seen"): 6, ("test", "unanswerable"): 4, ("test", "unseen"): 6, ("train", "train"): 40,
        ("validation", "seen"): 4, ("validation", "unseen"): 4}


@pytest.mark.slow  # embeds the chunks with MiniLM
def test_the_exported_studys_knowledge_base_has_the_same_chunks_and_recall(tmp_path):
    from nova_lab import backends
    from nova_lab.core.params import KnowledgeBaseParams
    from nova_lab.retrieval import retrieval_eval

    _, _, own = exported(tmp_path)
    figures = []
    for run in (CFG.run_name, own.run_name):
        cfg = KnowledgeBaseParams(**{name: getattr(SMOKE, name) for name in KnowledgeBaseParams.model_fields} | {"run_name": run})
        kb = backends.build_knowledge_base(cfg)
        test = data_prep.read_test(run, probes=False)
        summary = retrieval_eval.summarize(retrieval_eval.rank_of_source(kb.retriever, test, kb.modes, search_key=kb.search_key))
        quality = summary.drop(columns="p50_latency_ms").round(6)  # latency is this moment's, not the corpus's
        figures.append((kb.build["chunks"], kb.build["documents"], quality.to_dict("records")))
    assert figures[0] == figures[1]


def test_splits_made_for_a_file_without_them_put_both_strata_in_test_and_keep_groups_whole(tmp_path):
    built_in, _, _ = exported(tmp_path)
    shown = pd.read_csv(tmp_path / "mine" / "questions.csv").drop(columns=["split", "group"])
    shown.to_csv(tmp_path / "unsplit.csv", index=False)
    cfg = CFG.model_copy(update={"run_name": "unsplit", "documents": str(tmp_path / "mine" / "documents"),
                                 "questions": str(tmp_path / "unsplit.csv")})
    qa = data_prep.prepare(cfg).qa
    test = qa[qa["split"] == "test"]
    assert set(test["stratum"]) == {"seen", "unseen", "unanswerable"}
    train_documents = set(qa.loc[qa["split"] == "train", "source_doc_id"])
    assert not set(test.loc[test["stratum"] == "unseen", "source_doc_id"]) & train_documents  # held out whole
    assert set(test.loc[test["stratum"] == "seen", "source_doc_id"]) <= train_documents


def test_markdown_text_html_and_pdf_are_read_and_an_unreadable_file_is_reported_not_fatal(tmp_path):
    (tmp_path / "guide").mkdir()
    (tmp_path / "guide" / "setup.md").write_text("# Setting up\n\nInstall it, then run it.\n")
    (tmp_path / "notes.txt").write_text("Plain notes.\n")
    (tmp_path / "page.html").write_text("<html><head><title>Queues</title><style>p{}</style></head>"
                                        "<body><h1>Queues</h1><p>A queue keeps <b>messages</b>.</p></body></html>")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(TEXT_PDF)))
    writer.write(tmp_path / "paper.pdf")
    locked = PdfWriter(clone_from=PdfReader(io.BytesIO(TEXT_PDF)))
    locked.encrypt("secret")
    locked.write(tmp_path / "locked.pdf")
    blank = PdfWriter()
    blank.add_blank_page(200, 200)
    blank.write(tmp_path / "scan.pdf")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "image.png").write_bytes(b"\x89PNG")  # not a kind it reads: not listed

    read = read_folder(tmp_path)
    documents = read.documents.set_index("doc_id")
    assert documents.loc["guide/setup.md", ["title", "text", "service"]].tolist() == ["Setting up", "Install it, then run it.", "guide"]
    assert documents.loc["notes.txt", "text"] == "Plain notes."
    assert documents.loc["page.html", ["title", "text"]].tolist() == ["Queues", "Queues\nA queue keeps messages."]
    assert documents.loc["paper.pdf", "text"] == "A queue keeps messages"
    reasons = read.report.set_index("doc_id")["reason"]
    assert reasons["locked.pdf"].startswith("encrypted PDF") and reasons["scan.pdf"].startswith("no text in the PDF")
    assert reasons["latin1.txt"] == "not UTF-8 (byte 0xe9 at offset 3): save it as UTF-8"
    assert "image.png" not in reasons.index


@pytest.mark.parametrize("files, message", [
    ({}, r"holds no \.md, \.markdown, \.txt, \.html, \.htm, \.pdf file"),
    ({"a.txt": b"\xff\xfe\x00", "b.md": b""}, r"none of the 2 files in .* could be read \(a\.txt: not UTF-8 .*; b\.md: empty\)"),
])
def test_a_folder_with_nothing_to_read_is_one_error_naming_why(tmp_path, files, message):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DocumentsError, match=message):
        read_folder(tmp_path)


def write_csv(tmp_path, rows: list[dict], name="qa.csv") -> str:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


PAIR = {"question": "What keeps messages?", "reference_answer": "A queue.", "source_document": "a.md"}


@pytest.mark.parametrize("rows, message", [
    ([{"question": "q"}], r"qa\.csv: no 'reference_answer' column; the columns are \['question'\]"),
    ([PAIR, PAIR | {"question": " "}], r"qa\.csv row 2: empty question"),
    ([PAIR | {"id": "x"}, PAIR | {"id": "x"}], r"qa\.csv row 2: id 'x' again \(first on row 1\)"),
    ([PAIR | {"split": "dev"}], r"qa\.csv row 1: split 'dev' is not one of \['train', 'validation', 'test'\]"),
    ([PAIR | {"source_document": "gone.md"}], r"qa\.csv row 1: source_document 'gone\.md' is not in the documents folder"),
])
def test_each_bad_qa_row_is_one_error_naming_the_file_the_row_and_what_is_allowed(tmp_path, rows, message):
    with pytest.raises(QuestionsError, match=message):
        read_questions(write_csv(tmp_path, rows), {"a.md"})


def test_a_stray_delimiter_non_utf8_and_bad_json_are_named_with_their_line(tmp_path):
    (tmp_path / "stray.csv").write_text("question,reference_answer\nWhat, exactly, keeps messages?,A queue.\n")
    with pytest.raises(QuestionsError, match=r"stray\.csv row 1: 4 fields for 2 columns: a comma inside a value needs"):
        read_questions(tmp_path / "stray.csv", set())
    (tmp_path / "latin.csv").write_bytes("question,reference_answer\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(QuestionsError, match=r"latin\.csv: not UTF-8 \(byte offset 29\)"):
        read_questions(tmp_path / "latin.csv", set())
    (tmp_path / "bad.jsonl").write_text(json.dumps(PAIR) + "\n{oops\n")
    with pytest.raises(QuestionsError, match=r"bad\.jsonl line 2: not JSON"):
        read_questions(tmp_path / "bad.jsonl", {"a.md"})


def test_too_few_pairs_or_more_training_pairs_than_nova_takes_are_refused(tmp_path):
    few = pd.DataFrame({"split": ["train"] * 3 + ["validation"] * 8 + ["test"] * 2})
    with pytest.raises(QuestionsError, match=r"qa\.csv: \{'train': 3, 'validation': 8, 'test': 2\} pairs per split; the study needs at least 8"):
        check_sizes(few, tmp_path / "qa.csv")
    many = pd.DataFrame({"split": ["train"] * (MAX_TRAIN + 1) + ["validation"] * 8 + ["test"] * 2})
    with pytest.raises(QuestionsError, match=r"20001 training pairs; a Nova customization job takes at most 20,000"):
        check_sizes(many, tmp_path / "qa.csv")


def test_a_model_with_its_own_least_number_of_training_records_is_checked_against_the_file(tmp_path):
    file = pd.DataFrame({"split": ["train"] * 150 + ["validation"] * 8 + ["test"] * 2})
    check_sizes(file, tmp_path / "qa.csv", ["micro", "lite"])
    with pytest.raises(QuestionsError, match=r"qa\.csv: 150 training pairs, but nova2_lite needs at least 200 \(AWS's "
                                             r"Nova dataset validator\): add training pairs, or leave out nova2_lite"):
        check_sizes(file, tmp_path / "qa.csv", ["micro", "nova2_lite"])


def test_a_reserved_word_in_a_pair_that_goes_into_a_nova_file_names_its_row_and_column(tmp_path):
    rows = [PAIR | {"split": "train"}, PAIR | {"split": "train", "reference_answer": "Bot: a queue."},
            PAIR | {"split": "test", "question": "User: what keeps messages?"},  # test pairs are only asked
            PAIR | {"split": "validation", "question": "[eos] what keeps messages?"}]
    pairs = read_questions(write_csv(tmp_path, rows), {"a.md"})
    with pytest.raises(QuestionsError, match=r"qa\.csv: 2 value\(s\) hold a word that fails a Nova customization job "
                                             r"\(row 2 \(train\) reference_answer: 'Bot:'; row 4 \(validation\) "
                                             r"question: '\[EOS\]'\): reword them"):
        check_reserved_words(pairs, tmp_path / "qa.csv")


def test_a_file_the_knowledge_base_would_not_ingest_stops_before_any_aws_call(tmp_path):
    (tmp_path / "a.md").write_text("# A\n\nA queue keeps messages.\n")
    (tmp_path / "old.htm").write_text("<p>A topic fans messages out.</p>")
    with pytest.raises(DocumentsError, match=r"documents: old\.htm: a Bedrock knowledge base ingests \.txt, \.md, "
                                             r"\.html.*rename \(\.htm to \.html"):
        check_uploadable(tmp_path)


def test_documents_without_questions_are_refused_in_the_params_and_nothing_is_written(tmp_path):
    with pytest.raises(ParamsError, match=r"documents = 'docs' needs `questions`.*offline no model here is fit"):
        parse(DataPrepParams, CFG.model_dump() | {"documents": "docs"})
    (tmp_path / "a.md").write_text("# A\n\nA queue keeps messages.\n")
    cfg = CFG.model_copy(update={"run_name": "bad", "documents": str(tmp_path), "questions": str(write_csv(tmp_path, [PAIR] * 2))})
    with pytest.raises(QuestionsError):
        data_prep.prepare(cfg)
    assert not (paths.outputs_root() / "bad").exists()


def test_export_writes_nothing_over_a_folder_that_holds_files(tmp_path, capsys):
    data_prep.prepare(CFG)
    target = tmp_path / "target"
    target.mkdir()
    (target / "kept.txt").write_text("mine")
    assert cli.main(["export", str(target), "--run", CFG.run_name]) == 1
    assert "is not empty: name a new folder" in capsys.readouterr().err
    assert [p.name for p in target.iterdir()] == ["kept.txt"]
