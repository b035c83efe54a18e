"""The offline judges on answers whose quality is known, and the LLM verdict parser."""

import math

import pandas as pd
import pytest

from nova_lab.core.records import RecordStore
from nova_lab.judging import verdicts
from nova_lab.judging.judges import (
    BeyondQuestion,
    FactCheckJudge,
    Item,
    OverlapJudge,
    SemanticJudge,
    parse_verdict,
    present_facts,
)

ERRORS_Q = "Which errors can the Amazon EKS DeletePodIdentityAssociation operation return?"
ERRORS_REF = ("Amazon EKS DeletePodIdentityAssociation can return ServerException, ResourceNotFoundException, "
              "InvalidRequestException, and InvalidParameterException.")
ERRORS_KEYS = ("ServerException", "ResourceNotFoundException", "InvalidRequestException", "InvalidParameterException")
LENGTH_Q = "What length constraints apply to PolicyArn in IAM ListPolicyVersions?"
LENGTH_REF = "PolicyArn in ListPolicyVersions must be between 20 and 2048 characters long."

GOOD = [
    Item("g1", ERRORS_Q, ERRORS_REF, ERRORS_KEYS, "It may return ServerException, ResourceNotFoundException, "
         "InvalidRequestException or InvalidParameterException."),
    Item("g2", LENGTH_Q, LENGTH_REF, ("20", "2048"), "PolicyArn must be 20 to 2,048 characters long."),
]
PARTIAL = [
    Item("p1", ERRORS_Q, ERRORS_REF, ERRORS_KEYS, "It can return ServerException and ResourceNotFoundException."),
    Item("p2", LENGTH_Q, LENGTH_REF, ("20", "2048"), "PolicyArn can be at most 2048 characters."),
]
WRONG = [
    Item("w1", ERRORS_Q, ERRORS_REF, ERRORS_KEYS, "It returns AccessDeniedException and ThrottlingException."),
    Item("w2", LENGTH_Q, LENGTH_REF, ("20", "2048"), "PolicyArn must be between 1 and 1024 characters long."),
    Item("w3", LENGTH_Q, LENGTH_REF, ("20", "2048"), ""),
]


# what it does: a free-text reference, scored by the semantic and the overlap judge
PURPOSE_Q = "What is the CreateQueue operation of Amazon SQS for?"
PURPOSE_REF = "The CreateQueue operation creates a new standard or FIFO queue."
PURPOSE = {
    "right": "It creates a new queue, either a standard queue or a FIFO queue.",
    "half": "It creates a standard queue.",
    "echo": "The CreateQueue operation of Amazon SQS is for creating queues in Amazon SQS.",
    "other operation": "It deletes the queue specified by the QueueUrl, regardless of its contents.",
    "empty": "",
}


@pytest.mark.parametrize("judge", [SemanticJudge(), OverlapJudge()], ids=lambda j: j.name)
def test_what_it_does_earns_by_what_the_answer_adds_to_the_question(judge):
    """Blind grades gave nothing to answers that restate the question's words; the similarity judges gave them 6-9
    points until they counted only what the answer says beyond the question."""
    scores = {name: v.score for name, v in zip(PURPOSE, judge.judge(
        [Item(name, PURPOSE_Q, PURPOSE_REF, (), answer) for name, answer in PURPOSE.items()]))}
    assert scores["right"] > scores["half"] > max(scores["echo"], scores["other operation"], scores["empty"])
    assert scores["echo"] <= 3 and scores["empty"] == 0  # semantic: "for creating queues" is near "creates"
    assert scores["right"] >= 6


def test_the_overlap_judge_scores_only_free_text_with_words_beyond_the_question():
    judge = OverlapJudge()
    assert judge.scores(Item("f", PURPOSE_Q, PURPOSE_REF, (), "x"))
    assert not judge.scores(GOOD[0])  # key facts: the fact check's
    assert not judge.scores(Item("p", PURPOSE_Q, "SQS has no CreateQueue operation.", (), "x", unanswerable=True))
    restated = "The DeleteBucket operation of s3 deletes the bucket."  # says nothing the question does not
    assert not judge.scores(Item("r", "What does the s3 DeleteBucket operation do?", restated, (), "x"))
    assert BeyondQuestion(PURPOSE_Q).tokenize(PURPOSE_REF) == ["new", "standard", "fifo"]


@pytest.mark.parametrize("judge", [FactCheckJudge(), SemanticJudge()], ids=lambda j: j.name)
def test_good_beats_partial_beats_wrong(judge):
    good, partial, wrong = (
        [v.score for v in judge.judge(items)] for items in (GOOD, PARTIAL, WRONG))
    # a terse right answer is less like the reference than the question (which the reference restates) is, so
    # the semantic judge's similarity half gives it nothing and its coverage half 5: the fact check carries it
    assert min(good) >= 5
    assert all(g > p for g, p in zip(good, partial))
    assert max(partial) > max(wrong) and min(partial) > 0
    assert max(wrong) < min(good)
    assert all(0 <= s <= 10 for s in good + partial + wrong)


def test_fact_check_counts_a_contradicting_value_of_the_same_kind():
    extra = Item("x", ERRORS_Q, ERRORS_REF, ERRORS_KEYS, ERRORS_REF + " It can also return ThrottlingException.")
    wrong_version = Item("v", "What is the API version of Amazon ECR?", "Amazon ECR uses API version 2015-09-21.",
                         ("2015-09-21",), "Amazon ECR uses API version 2015-09-21, formerly 2012-10-17.")
    [with_extra, with_old_version] = FactCheckJudge().judge([extra, wrong_version])
    assert with_extra.score == pytest.approx(10 * 4 / 5)  # all four facts, one wrong name of the same shape
    assert "ThrottlingException" in with_extra.rationale
    assert with_old_version.score == pytest.approx(5)


def test_a_value_only_counts_as_a_whole_token():
    item = Item("t", "Which protocol does the AWS SFN API use?", "The AWS SFN API uses the json protocol.", ("json",),
                "The AWS SFN API uses the rest-json protocol.")
    assert FactCheckJudge().judge([item])[0].score == 0


def test_a_key_fact_written_with_thousands_commas_is_found_with_or_without_them():
    facts = ("1,209,600 seconds", "2048")
    assert present_facts("The most is 1,209,600 seconds (2,048 KiB).", facts) == list(facts)
    assert present_facts("The most is 1209600 seconds.", facts) == ["1,209,600 seconds"]
    assert present_facts("The most is 209,600 seconds.", facts) == []


@pytest.mark.parametrize("reply,score", [
    ('{"score": 7, "rationale": "mostly right"}', 7.0),
    ('Here is my verdict:\n```json\n{"score": 10, "rationale": "all facts"}\n```', 10.0),
])
def test_parse_verdict_reads_json_replies(reply, score):
    assert parse_verdict(reply).score == score


@pytest.mark.parametrize("reply", ["The answer deserves a 7.", '{"score": "seven"}', '{"score": 12}', "[1, 2]", ""])
def test_an_unreadable_verdict_is_nan_not_zero(reply):
    verdict = parse_verdict(reply)
    assert math.isnan(verdict.score) and verdict.rationale


class FlakyJudge:
    """Stands for an LLM judge whose every other reply cannot be parsed."""

    name, kind = "flaky", "llm"

    def scores(self, item):
        return True

    def judge(self, items):
        return [parse_verdict('{"score": 6}' if i % 2 else "no idea") for i, _ in enumerate(items)]


def test_parse_failures_are_counted_and_left_out_of_the_mean(tmp_path):
    answers = pd.DataFrame({"key": [f"a{i}" for i in range(4)], "configuration": ["base"] * 4, "stratum": ["seen"] * 4})
    items = [Item(k, "q", "r", ("x",), "x") for k in answers["key"]]
    store = RecordStore(tmp_path / "judgments.jsonl", verdicts.JUDGMENT_COLUMNS)
    assert verdicts.judge_all([FlakyJudge()], items, store) == 4
    assert verdicts.judge_all([FlakyJudge()], items, store) == 0  # cached: nothing judged twice
    stored = store.frame()
    scored = answers.merge(stored.drop(columns="key"), left_on="key", right_on="answer_key")
    row = verdicts.summary(scored).loc["base"]
    assert row["flaky_parse_failure_rate"] == 0.5
    assert row["flaky_mean"] == 6.0  # the two failures are NaN, not zeros
    assert row["flaky_scored"] == 2  # of four answers


@pytest.mark.parametrize("answer,score", [
    ("PolicyArn must be 20-2048 characters.", 10.0),  # a range written with a hyphen
    ("a 20-character minimum and a 2048-character maximum", 10.0),
    ("between 1 and 2048", 2.5),
])
def test_numbers_next_to_hyphens_count(answer, score):
    item = Item("n", LENGTH_Q, LENGTH_REF, ("20", "2048"), answer)
    assert FactCheckJudge().judge([item])[0].score == score


def test_values_count_only_as_the_api_writes_them():
    protocol = Item("p", "Which protocol does the Amazon EC2 API use?", "The Amazon EC2 API uses the ec2 protocol.",
                    ("ec2",), "Amazon EC2 uses the query protocol.")  # "EC2" is the service, not the protocol
    method = Item("m", "Which HTTP method does Amazon S3 DeleteObject use?",
                  "Amazon S3 DeleteObject sends an HTTP DELETE request to /{Bucket}/{Key+}.", ("DELETE", "/{Bucket}/{Key+}"),
                  "It sends POST /{Bucket}/{Key+} to delete the object.")
    plain_words = Item("w", ERRORS_Q, ERRORS_REF, ERRORS_KEYS, ERRORS_REF + " Each one is read-only and non-retryable.")
    [p, m, w] = FactCheckJudge().judge([protocol, method, plain_words])
    assert p.score == 0
    assert m.score == 2.5 and "POST" in m.rationale  # the path is right, the method is wrong
    assert w.score == 10  # ordinary hyphenated words are not wrong names


@pytest.mark.parametrize("reply,score", [
    ('{"score": 3, "rationale": "x"} Note: the {Bucket} label is fine', 3.0),
    ('{"score": "7"}', 7.0),
])
def test_parse_verdict_reads_the_first_json_object_with_a_score(reply, score):
    assert parse_verdict(reply).score == score


def test_a_boolean_score_is_not_a_number():
    assert math.isnan(parse_verdict('{"score": true}').score)
