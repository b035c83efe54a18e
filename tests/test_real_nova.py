"""The offline run's limits in words, each number from the run."""

import pandas as pd

from nova_lab.analysis import real_nova
from nova_lab.analysis.statistics import StudyResults


def test_the_capped_cells_the_seed_and_the_seen_unseen_reading_come_from_the_run():
    answers = pd.DataFrame({"model": ["micro"] * 10 + ["lite"] * 10,
                            "configuration": ["base"] * 5 + ["ft"] * 5 + ["base"] * 5 + ["ft"] * 5,
                            "stopped": [False] * 4 + [True] + [True] * 5 + [True] * 10, "max_new_tokens": 64})
    by_stratum = pd.DataFrame([
        {"model": "micro", "metric": "quality", "configuration": "ft", "stratum": "seen", "change": 1.5,
         "change_low": 1.0, "change_high": 2.0},
        {"model": "micro", "metric": "quality", "configuration": "ft", "stratum": "unseen", "change": 1.2,
         "change_low": 0.7, "change_high": 1.7},
        {"model": "lite", "metric": "quality", "configuration": "ft", "stratum": "seen", "change": 3.0,
         "change_low": 2.5, "change_high": 3.5},
        {"model": "lite", "metric": "quality", "configuration": "ft", "stratum": "unseen", "change": 0.5,
         "change_low": 0.0, "change_high": 1.0}])
    res = StudyResults(answers, pd.DataFrame(), pd.DataFrame(), ["fact_check", "semantic", "overlap"])
    text = "\n".join(real_nova.lines(res, by_stratum))
    assert "cut at 64 new tokens in micro base 80% of the answers" in text and "lite base" not in text
    assert "one seed" in text
    assert "micro: +1.50 points on taught facts, +1.20 on untaught ones (the intervals overlap" in text
    assert "lite: +3.00 points on taught facts, +0.50 on untaught ones (apart: more on the facts it was taught)" in text
    assert "3 rule and similarity judges" in text
    repeats = pd.DataFrame({"configuration": ["ft#1", "ft_rag#1", "ft#2", "ft_rag#2"]})
    three = StudyResults(answers, pd.DataFrame(), pd.DataFrame(), ["a", "b"], repeats=repeats)
    assert "trained with 3 seeds" in "\n".join(real_nova.lines(three, by_stratum))
    on_bedrock = "\n".join(real_nova.lines(res, by_stratum, on_bedrock=True))
    assert "templated" in on_bedrock and "rule and similarity judges" not in on_bedrock and "CPU" not in on_bedrock


def test_the_questions_line_says_whose_questions_they_are():
    from nova_lab.data.data_prep import Source

    assert real_nova.questions_line(Source()) == real_nova.TEMPLATED
    assert real_nova.questions_line(Source("docs", "qa.csv")).startswith("The questions and references are your "
                                                                        "file's (`qa.csv`)")
    assert "written by an LLM (`bedrock.qa_model`) from your documents" in real_nova.questions_line(Source("docs"))
