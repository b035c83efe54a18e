"""The judges' check set: six answers of known rank per question, and the ordering rate."""

import pandas as pd
import pytest

from nova_lab.core.records import RecordStore
from nova_lab.judging import meta_eval
from nova_lab.judging.judges import FactCheckJudge, SemanticJudge, present_facts
from nova_lab.judging.verdicts import JUDGMENT_COLUMNS


@pytest.fixture(scope="module")
def checks(corpus, qa):
    test = qa[qa["split"] == "test"]
    return meta_eval.check_set(test, corpus.facts, 20)


def test_each_question_gets_its_variants_and_correct_ones_hold_every_key_fact(checks):
    assert checks["question_id"].nunique() == 20
    assert set(checks["variant"]) == set(meta_eval.VARIANTS)
    for row in checks[checks["variant"].isin(meta_eval.CORRECT)].itertuples():
        assert set(present_facts(row.answer, row.key_facts)) == set(row.key_facts), row
    changed = checks[checks["variant"] == "key_changed"]
    assert all(r.answer != r.reference for r in changed.itertuples())
    assert all(r.key_facts[0].lower() not in r.answer.lower().split() for r in changed.itertuples())
    assert all(r.key_facts[0] not in present_facts(r.answer, r.key_facts) for r in changed.itertuples())
    paraphrases = checks[checks["variant"] == "paraphrase"]
    assert (paraphrases["answer"] != paraphrases["reference"]).all()


def test_ordering_rate_rewards_the_right_order_and_counts_ties_half():
    scores = pd.DataFrame({
        "question_id": ["q1"] * 6 + ["q2"] * 6, "judge": "j",
        "variant": list(meta_eval.VARIANTS) * 2,
        # q1 in the right order; q2 gives every answer the same score
        "score": [10, 9, 9, 3, 1, 0] + [5] * 6,
    })
    rates = meta_eval.ordering_rates(scores)
    assert len(rates) == len(meta_eval.EXPECTED_ORDER)
    assert rates["rate"].tolist() == [0.75] * len(rates)  # q1 right (1), q2 tied (0.5)


def test_offline_judges_order_the_check_set(checks, tmp_path):
    store = RecordStore(tmp_path / "meta_eval_judgments.jsonl", JUDGMENT_COLUMNS)
    scores = meta_eval.score(checks, [FactCheckJudge(), SemanticJudge()], store)
    summary = meta_eval.summary(scores, meta_eval.ordering_rates(scores))
    assert (summary["ordering_rate"] > 0.9).all()
    assert (summary["mean_reference"] == 10).all() and (summary["mean_empty"] == 0).all()

    class Unreachable(FactCheckJudge):
        def judge(self, items):
            raise AssertionError("a stored verdict was asked for again")

    again = meta_eval.score(checks, [Unreachable()], store)  # same name and items: read from the store
    pd.testing.assert_series_equal(again["score"], scores[scores["judge"] == "fact_check"]["score"].reset_index(drop=True))
