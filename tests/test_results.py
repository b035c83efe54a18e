"""Result stores only grow; what the analysis reads is the current answer and the verdicts made on it."""

import pandas as pd

from nova_lab import judging, results
from nova_lab.judges import FactCheckJudge
from nova_lab.records import RecordStore

QUESTIONS = pd.DataFrame({"id": ["q1", "q2"], "question": ["Which protocol does SFN use?"] * 2,
                          "reference_answer": ["SFN uses the json protocol."] * 2, "key_facts": [["json"], ["json"]]})


def answer(key, question_id, text):
    return {"key": key, "question_id": question_id, "model": "micro", "configuration": "base", "answer": text}


def test_the_last_answer_per_question_and_configuration_counts(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    RecordStore(results.answers_path("r", "micro")).append([
        answer("old", "q1", "SFN uses query."), answer("gone", "q9", "a question no longer in the test set"),
        answer("new", "q1", "SFN uses the json protocol."), answer("k2", "q2", "json")])
    current = results.read_answers("r", "micro", QUESTIONS)
    assert sorted(current["key"]) == ["k2", "new"]


def test_verdicts_on_another_answer_text_are_left_out(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    store = RecordStore(results.judgments_path("r", "micro"), judging.JUDGMENT_COLUMNS)
    before = pd.DataFrame([answer("k1", "q1", "SFN uses query.")])
    judging.judge_all([FactCheckJudge()], judging.items(before, QUESTIONS), store)
    after = pd.DataFrame([answer("k1", "q1", "SFN uses the json protocol.")])  # same key, regenerated text
    judging.judge_all([FactCheckJudge()], judging.items(after, QUESTIONS), store)
    scored = judging.read_scored("r", "micro", after, QUESTIONS)
    assert scored["score"].tolist() == [10.0]  # one verdict, on the current text
