import pytest

from nova_lab.data_prep import load_corpus
from nova_lab.qa import GENERATORS, SplitSizes, build_qa_set

SERVICES = ["sqs", "sns", "s3", "kms", "lambda", "dynamodb"]
SIZES = SplitSizes(n_train=200, train_phrasings_per_fact=2, n_validation=20, n_test=60)


@pytest.fixture(scope="session")
def corpus():
    return load_corpus(SERVICES)


@pytest.fixture(scope="session")
def qa(corpus):
    return build_qa_set(corpus.facts, GENERATORS["template"](), SIZES, seed=7)
