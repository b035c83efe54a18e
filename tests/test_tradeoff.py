"""The trade-off table: absolute quality, share good, fabrication, latency and cost per configuration, and the
configurations no other beats on all of them."""

import numpy as np
import pandas as pd
import pytest

from nova_lab.analysis import tradeoff
from nova_lab.analysis.statistics import StudyResults
from nova_lab.costing import costs


def frame(**columns):
    base = {"quality": [2.0, 5.0, 4.5, 6.0], "share_good": [0.1, 0.4, 0.35, 0.5],
            "fabrication_rate": [0.9, 0.8, 0.9, 0.7], "latency_p50_ms": [1000, 1800, 500, 1200],
            "usd_per_million_answers": [20.0, 60.0, 15.0, 50.0]}
    return pd.DataFrame(base | columns, index=["base", "rag", "ft", "ft_rag"])


def test_a_configuration_beaten_on_every_column_is_not_on_the_front():
    front = tradeoff.unbeaten(frame())
    # ft is faster, cheaper and better than base on quality: base is beaten; ft_rag is best on quality;
    # ft is fastest and cheapest; rag is beaten by ft_rag (better quality, share, fabrication, latency, cost)
    assert front.to_dict() == {"base": False, "rag": False, "ft": True, "ft_rag": True}


def test_a_tie_on_every_column_beats_neither_and_nan_columns_are_left_out():
    tied = frame(quality=[5.0] * 4, share_good=[0.4] * 4, fabrication_rate=[0.8] * 4, latency_p50_ms=[1000] * 4,
                 usd_per_million_answers=[20.0] * 4)
    assert tradeoff.unbeaten(tied).all()
    no_probes = frame(fabrication_rate=[np.nan] * 4, quality=[2.0, 5.0, 4.5, 4.9])
    assert tradeoff.unbeaten(no_probes).to_dict() == {"base": False, "rag": True, "ft": True, "ft_rag": True}


def results(seed=0, n=40):
    rng = np.random.default_rng(seed)
    rows, timed = [], []
    for model, lift in (("micro", 0.0), ("lite", 1.0)):
        for configuration, level in (("base", 1.0), ("rag", 4.0), ("ft", 3.0), ("ft_rag", 6.0)):
            for q in range(n):
                rows.append({"model": model, "configuration": configuration, "question_id": f"q{q}",
                             "kind": "exact value" if q % 2 else "what it does",
                             "quality": float(np.clip(level + lift + rng.normal(0, 1), 0, 10)),
                             "input_tokens": 500 if "rag" in configuration else 60, "output_tokens": 30})
            timed += [{"model": model, "configuration": configuration, "latency_ms": 100.0 * level + t}
                      for t in range(5)]
    return StudyResults(answers=pd.DataFrame(rows), scores=pd.DataFrame(), latency=pd.DataFrame(timed), judges=[])


def test_the_table_gives_levels_with_intervals_and_the_front_per_model():
    res = results()
    rates = pd.DataFrame({"model": ["micro"] * 4 + ["lite"] * 4, "configuration": ["base", "rag", "ft", "ft_rag"] * 2,
                          "fabrication_rate": [0.9, 0.5, 0.8, 0.4] * 2})
    usd = (1e6 * costs.each_answer(res.answers)).groupby([res.answers["model"], res.answers["configuration"]]).mean()
    table = tradeoff.table(res, rates, usd, resamples=200, seed=1).set_index(["model", "configuration"])
    best = table.loc[("lite", "ft_rag")]
    assert best["quality_low"] < best["quality"] < best["quality_high"]
    assert best["quality"] == pytest.approx(res.answers.query("model == 'lite' and configuration == 'ft_rag'")["quality"].mean())
    assert table.loc[("micro", "base"), "share_good"] == 0 and table.loc[("lite", "ft_rag"), "share_good"] > 0.3
    assert table.loc[("micro", "rag"), "usd_per_million_answers"] > table.loc[("micro", "base"), "usd_per_million_answers"]
    assert table.loc[("micro", "ft"), "latency_p90_ms"] == pytest.approx(303.6)
    assert table.loc[("micro", "base"), "unbeaten"]  # the worst answers, but the fastest: on the front
    assert table.loc[("micro", "ft_rag"), "unbeaten"]


def test_the_winner_per_kind_is_clear_only_when_its_interval_excludes_zero():
    winners = tradeoff.winners_by_kind(results(), resamples=200, seed=1).set_index(["model", "kind"])
    assert set(winners["choice"]) == {"ft_rag"} and winners["clear"].all()  # 2 points ahead of RAG, noise 1


def test_a_kind_without_a_complete_row_is_left_out_not_a_crash():
    res = results()
    answers = res.answers.copy()
    answers.loc[(answers["model"] == "lite") & (answers["kind"] == "what it does"), "quality"] = np.nan
    winners = tradeoff.winners_by_kind(StudyResults(answers, res.scores, res.latency, res.judges), 200, 1)
    assert ("lite", "what it does") not in set(zip(winners["model"], winners["kind"])) and len(winners) == 3
    empty = tradeoff.winners_by_kind(StudyResults(answers.iloc[:0], res.scores, res.latency, res.judges), 200, 1)
    assert empty.empty and "runner_up" in empty
