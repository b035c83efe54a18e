"""The Q&A set: answers true of botocore's model (checked against the raw JSON, not the
generator), no leakage, and strata as specified."""

import json
import re

import botocore.loaders
import pytest
from bs4 import BeautifulSoup

from conftest import SIZES
from nova_lab.data.leakage import leakage_report
from nova_lab.data.qa import GENERATORS, UNANSWERABLE, NotEnoughFacts, SplitSizes, build_qa_set, counts

LOADER = botocore.loaders.create_loader()


def first_sentence(raw_operation: dict) -> str:
    """The operation's documentation up to its first full stop, lower-cased verb first: read from the raw model."""
    text = re.sub(r"\s+", " ", BeautifulSoup(raw_operation["documentation"], "html.parser").get_text(" "))
    text = re.sub(r"\s+([.,;:)])", r"\1", text).strip()
    sentences = re.split(r"(?<!\b[A-Za-z])\.(?:\s|$)", text)
    while re.match(r"(This|The) (operation|action|API operation|API) (is|isn't|are) ", sentences[0]):
        sentences.pop(0)  # where it is supported, not what it does
    sentence = sentences[0]
    sentence = re.sub(r"^This (operation|action|API operation|API) ", "", sentence)
    return sentence[0].lower() + sentence[1:]


def truth(record) -> list[str]:
    """What botocore's raw service model says the key facts of this record are."""
    raw = LOADER.load_service_model(record.service, "service-2")
    if record.fact_type == "no_such_operation":  # absent from the whole model, not only from its operations
        assert f'"{record.operation}"' not in json.dumps(raw), record.operation
        return []
    if record.fact_type == "no_such_parameter":
        assert record.operation in raw["operations"] and f'"{record.parameter}"' not in json.dumps(raw)
        return []
    if record.fact_type in ("which_operation", "operation_purpose"):
        statement = first_sentence(raw["operations"][record.operation])
        assert statement in record.reference_answer, (record.id, statement)
        if record.fact_type == "which_operation":
            assert statement in record.question and record.operation not in record.question
            return [record.operation]
        return []  # what it does: free text, no key value
    if record.fact_type == "api_version":
        return [raw["metadata"]["apiVersion"]]
    if record.fact_type == "protocol":
        return [raw["metadata"]["protocol"]]
    operation = raw["operations"][record.operation]
    if record.fact_type == "http_request":
        return [operation["http"]["method"], operation["http"]["requestUri"]]
    if record.fact_type == "errors":
        return [error["shape"] for error in operation.get("errors", [])]
    if record.fact_type == "pagination":
        config = LOADER.load_service_model(record.service, "paginators-1")["pagination"][record.operation]
        return [config["input_token"], config["output_token"]]
    shape = raw["shapes"][operation["input"]["shape"]]
    if record.fact_type == "required_parameters":
        return sorted(shape["required"])
    member = raw["shapes"][shape["members"][record.parameter]["shape"]]
    if record.fact_type == "enum_values":
        return member["enum"]
    return [str(member["min"]), str(member["max"])]  # length_limits, value_range


def test_every_reference_answer_is_true_of_botocore(qa):
    assert {"exact value", "which operation", "what it does", UNANSWERABLE} <= set(qa["kind"])
    for record in qa.itertuples():
        assert list(record.key_facts) == [str(v) for v in truth(record)], record.id
        for value in record.key_facts:
            assert value in record.reference_answer, (record.id, value)


def test_sizes_and_strata(qa):
    table = counts(qa).set_index(["split", "stratum"])["questions"]
    assert table["train", "train"] == SIZES.n_train
    assert table["test", "seen"] + table["test", "unseen"] == SIZES.n_test
    assert table["test", UNANSWERABLE] == SIZES.n_probes
    assert table["test", "seen"] == SIZES.n_test // 2
    assert table["validation", "seen"] + table["validation", "unseen"] == SIZES.n_validation
    assert qa["id"].is_unique


def test_seen_facts_are_taught_in_other_words_and_unseen_never(qa):
    train = qa[qa["split"] == "train"]
    taught = train.groupby("fact_id")["phrasing"].apply(set)
    for record in qa[qa["stratum"] == "seen"].itertuples():
        assert record.fact_id in taught.index
        assert record.phrasing not in taught[record.fact_id]
        assert record.question not in set(train["question"])
    unseen = qa[qa["stratum"] == "unseen"]
    assert not set(unseen["fact_id"]) & set(train["fact_id"])
    held = qa[qa["split"] != "train"]
    assert held["fact_id"].is_unique  # no fact asked twice across validation and test


def test_no_exact_leakage_and_rates_are_reported(qa):
    report = leakage_report(qa).set_index(["split", "stratum"])
    assert report["exact_in_train"].sum() == 0
    assert report.loc[("test", "seen"), "fact_in_train_rate"] == 1.0
    assert report.loc[("test", "unseen"), "fact_in_train_rate"] == 0.0
    assert report["near_duplicate_rate"].between(0, 1).all()


def test_leakage_report_catches_a_copied_question(qa):
    leaked = qa.copy()
    first_test = leaked.index[leaked["split"] == "test"][0]
    leaked.loc[first_test, "question"] = leaked.loc[leaked["split"] == "train", "question"].iloc[0].upper()
    assert leakage_report(leaked)["exact_in_train"].sum() == 1


def test_same_seed_same_set_other_seed_other_set(corpus, qa):
    generator = GENERATORS["template"]()
    assert build_qa_set(corpus.facts, generator, SIZES, seed=7).equals(qa)
    assert not build_qa_set(corpus.facts, generator, SIZES, seed=8)["id"].equals(qa["id"])


def test_too_few_facts_is_a_clear_error(corpus):
    with pytest.raises(NotEnoughFacts, match="add services or lower the sizes"):
        build_qa_set(corpus.facts, GENERATORS["template"](), SplitSizes(20_000, 1, 10, 10), seed=1)


def test_probes_are_never_trained_on_and_say_the_name_does_not_exist(qa):
    probes = qa[qa["stratum"] == UNANSWERABLE]
    assert set(probes["split"]) == {"test"} and set(probes["kind"]) == {UNANSWERABLE}
    assert not set(probes["fact_id"]) & set(qa.loc[qa["split"] != "test", "fact_id"])
    assert probes["service"].nunique() > 1 and probes["fact_type"].nunique() == 2  # spread over services and types
    for probe in probes.itertuples():
        name = probe.parameter if probe.fact_type == "no_such_parameter" else probe.operation
        assert name in probe.question and name in probe.reference_answer
        assert re.search(r"\bno\b", probe.reference_answer)


def test_no_phrasing_holds_a_word_that_fails_a_nova_job(corpus):
    """Every question and answer the templates can write, for every fact: a reserved word ("User:", as in
    "Use CreateUser: it ...") fails a Bedrock customization job, so it must never be written."""
    from nova_lab.data.data_prep import load_corpus
    from nova_lab.data.nova_format import reserved_words_in

    generator = GENERATORS["template"]()
    for facts in (corpus.facts, load_corpus(["iam", "cognito-idp"]).facts):
        for _, fact in facts.iterrows():
            for phrasing in generator.phrase(fact, list(range(generator.max_phrasings(fact)))):
                assert not reserved_words_in(phrasing.question + " " + phrasing.answer), (fact["fact_id"], phrasing)
