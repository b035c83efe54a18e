"""The rules that tell a declined probe from a fabricated one, and the judges that use them."""

import math

import pytest

from nova_lab.judging import fabrication
from nova_lab.judging.judges import FactCheckJudge, Item, SemanticJudge

DECLINED = [
    "Amazon SQS has no ArchiveQueue operation.",
    "There is no operation named CloneCacheClusters in the ElastiCache API.",
    "ListModelCopyJobs does not have a creationTimeScope parameter; it doesn't exist.",
    "I don't know of any such parameter.",
    "QueueScope is not a valid parameter of PurgeQueue.",
    "I'm not aware of a ResumeObject operation in Amazon S3.",
    "That operation is not part of the Amazon SNS API.",
    "The RestorePhoneNumbersOptedOut operation does not exist in Amazon SNS.",
    "RestorePhoneNumbersOptedOut doesn't exist.",
    "`ArchiveQueue` does not exist in Amazon SQS.",
    "The operation you asked about does not actually exist.",
]
FABRICATED = [
    "The ArchiveQueue operation archives the queue specified by the QueueUrl.",
    "creationTimeScope accepts ACCOUNT, REGION and GLOBAL.",
    "QueueScope must be between 1 and 80 characters long.",
    "There is no maximum: the default is 30 seconds.",  # "there is no" about a value, not about the name
    "Firehose ArchiveRecord can return ResourceNotFoundException and InvalidArgumentException.",
    # what the operation does when something else does not exist: a description of it (lite's stand-in, smoke run)
    "RestorePhoneNumbersOptedOut can return a ResourceNotFoundException if the phone number does not exist.",
]


@pytest.mark.parametrize("answer", DECLINED)
def test_an_answer_that_says_it_does_not_exist_declines(answer):
    assert fabrication.outcome(answer) == fabrication.DECLINES


@pytest.mark.parametrize("answer", FABRICATED)
def test_an_answer_that_states_values_or_a_description_fabricates(answer):
    assert fabrication.outcome(answer) == fabrication.FABRICATES


def test_a_denial_counts_only_for_the_name_the_question_asks_about():
    question = "What values can the QueueScope parameter of Amazon SQS PurgeQueue take?"
    describes = "PurgeQueue returns QueueDoesNotExist if the QueueUrl does not exist; QueueScope takes ALL or NONE."
    assert fabrication.outcome(describes, question) == fabrication.FABRICATES  # QueueUrl is not what was asked
    assert fabrication.outcome("QueueScope does not exist for PurgeQueue.", question) == fabrication.DECLINES


def test_an_empty_answer_is_neither():
    assert fabrication.outcome("  ") == fabrication.EMPTY


def probe(answer: str) -> Item:
    return Item("k", "What does the Amazon SQS ArchiveQueue operation do?", "Amazon SQS has no ArchiveQueue operation.",
                (), answer, unanswerable=True)


def test_on_a_probe_the_fact_check_rewards_declining_and_the_semantic_judge_abstains():
    judge = FactCheckJudge()
    assert judge.judge([probe(DECLINED[0]), probe(FABRICATED[0])])[0].score == 10.0
    assert judge.judge([probe(FABRICATED[0])])[0].score == 0.0
    assert judge.scores(probe("")) and not SemanticJudge().scores(probe(""))


def test_a_free_text_reference_is_not_fact_checked_and_the_semantic_judge_scores_similarity_alone():
    """The semantic judge (with the overlap judge, test_judges.py) scores it, on similarity beyond the question's."""
    purpose = Item("k", "What does the Amazon SQS DeleteQueue operation do?",
                   "Amazon SQS DeleteQueue deletes the queue specified by the QueueUrl.", (), "It deletes a queue.")
    assert not FactCheckJudge().scores(purpose) and SemanticJudge().scores(purpose)
    verdict = SemanticJudge._one(purpose, cosine=1.0, asked=0.6)
    assert verdict.score == 10.0 and not math.isnan(verdict.score)  # similarity alone, not halved by a 0 coverage
    assert SemanticJudge._one(purpose, cosine=0.6, asked=0.6).score == 0  # no nearer the reference than the question
