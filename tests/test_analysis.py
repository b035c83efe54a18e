"""The analysis on a synthetic results table whose changes are known by construction."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nova_lab.analysis import statistics
from nova_lab.analysis.statistics import StudyResults

N = 40
FACTOR = {"base": 1.0, "rag": 1.5, "ft": 1.25, "ft_rag": 2.25}  # quality = base quality x factor
LATENCY = {"base": 1000.0, "rag": 1300.0, "ft": 500.0, "ft_rag": 800.0}


def synthetic() -> StudyResults:
    base = 2 + np.arange(N) % 7 * 0.25  # per-question difficulty
    rows = [{"model": "m", "key": f"{c}-{q}", "question_id": f"q{q}", "configuration": c, "quality": base[q] * f,
             "judge_a": base[q] * f, "input_tokens": 50 + 400 * c.endswith("rag"), "output_tokens": 30,
             "total_tokens": 80 + 400 * c.endswith("rag"), "stratum": "seen" if q % 2 else "unseen",
             "retrieval_hit": q % 10 != 0} for q in range(N) for c, f in FACTOR.items()]
    answers = pd.DataFrame(rows).sample(frac=1, random_state=0)  # no help from row order
    latency = pd.DataFrame([{"model": "m", "question_id": f"q{q}", "configuration": c, "latency_ms": ms + q}
                            for q in range(10) for c, ms in LATENCY.items()])
    scores = answers[["key", "configuration", "model"]].assign(answer_key=answers["key"], judge="judge_a",
                                                               score=answers["quality"])
    return StudyResults(answers, scores, latency, ["judge_a"])


@pytest.fixture(scope="module")
def changes():
    return statistics.changes(synthetic(), ["quality", "latency_ms", "total_tokens"], 500, 0)


def test_changes_against_base_are_the_constructed_ones(changes):
    got = changes.set_index(["metric", "configuration"])
    for configuration, factor in FACTOR.items():
        if configuration != "base":
            row = got.loc[("quality", configuration)]
            assert row["change_pct"] == pytest.approx((factor - 1) * 100)
            assert row["ci_low"] <= row["change_pct"] <= row["ci_high"]
            assert row["n"] == N
    assert got.loc[("latency_ms", "ft"), "n"] == 10
    assert got.loc[("latency_ms", "ft"), "change_pct"] == pytest.approx((504.5 / 1004.5 - 1) * 100)
    assert got.loc[("total_tokens", "ft"), "change_pct"] == 0  # same tokens: no change, and no test
    assert got.loc[("total_tokens", "ft"), "p"] == 1.0


def test_p_values_are_wilcoxons_and_holm_corrected(changes):
    data = synthetic().answers.pivot(index="question_id", columns="configuration", values="quality")
    row = changes[(changes["metric"] == "quality") & (changes["configuration"] == "rag")].iloc[0]
    assert row["p"] == pytest.approx(stats.wilcoxon(data["rag"], data["base"]).pvalue)
    assert (changes["p_holm"] >= changes["p"]).all()
    smallest = changes["p"].idxmin()
    assert changes.loc[smallest, "p_holm"] == pytest.approx(min(1, changes.loc[smallest, "p"] * len(changes)))


def test_the_bootstrap_interval_is_scipys_paired_bootstrap():
    rng = np.random.default_rng(1)
    base = rng.uniform(1, 5, 30)
    x = base + rng.normal(1, 1, 30)
    ours = statistics.paired_change(x, base, 999, 3)
    theirs = stats.bootstrap((x, base), lambda a, b, axis: (a.mean(axis) / b.mean(axis) - 1) * 100, paired=True,
                             n_resamples=999, method="percentile", rng=np.random.default_rng(3)).confidence_interval
    assert (ours["ci_low"], ours["ci_high"]) == pytest.approx((theirs.low, theirs.high))


def test_additivity_is_the_per_question_interaction():
    row = statistics.additivity(synthetic(), 500, 0).iloc[0]
    base = 2 + np.arange(N) % 7 * 0.25
    assert row["interaction"] == pytest.approx(((2.25 - 1.5 - 1.25 + 1) * base).mean())
    assert row["interaction"] > 0 and row["ci_low"] > 0  # built super-additive
    assert row["both_minus_base"] == pytest.approx(1.25 * base.mean())


def test_replication_verdicts_follow_the_intervals(changes):
    verdicts = statistics.replication(changes).set_index(["metric", "configuration"])["verdict"]
    assert verdicts[("quality", "ft_rag")] == "replicated (direction)"
    assert verdicts[("latency_ms", "ft")] == "replicated (direction)"
    assert verdicts[("latency_ms", "rag")] == "not replicated: opposite direction"  # built slower, study says faster
    assert verdicts[("total_tokens", "ft")] == "not replicated: no clear change"


def test_quality_by_stratum_and_study_table():
    res = synthetic()
    by = statistics.quality_by(res, "stratum")
    assert by.loc[("m", "seen"), "questions"] == N // 2
    table = statistics.study_table(res)
    assert table.loc[("m", "ft"), "latency_mean_ms"] == pytest.approx(504.5)
    assert list(table.loc["m"].index) == ["base", "rag", "ft", "ft_rag"]


def test_pairing_by_question_narrows_the_interval():
    """Questions differ far more than configurations do: only a paired interval sees the change."""
    rng = np.random.default_rng(5)
    difficulty = rng.uniform(0, 8, 60)
    base, better = difficulty, difficulty + 0.3 + rng.normal(0, 0.05, 60)
    paired = statistics.paired_change(better, base, 999, 0)
    unpaired = stats.bootstrap((better, base), lambda a, b, axis: (a.mean(axis) / b.mean(axis) - 1) * 100,
                               n_resamples=999, method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert paired["ci_low"] > 0 > unpaired.low
    assert paired["ci_high"] - paired["ci_low"] < (unpaired.high - unpaired.low) / 5


def test_a_handful_of_questions_replicates_nothing():
    assert statistics.verdict(-50, -47, 0.5, 2, -50) == "too few questions to tell"
    assert statistics.verdict(-50, -47, 0.2, 40, -50) == "not replicated: no clear change"  # Holm disagrees
    assert statistics.verdict(-11, np.inf, 0.001, 40, 30) == "not replicated: no clear change"
    assert statistics.verdict(5, 9, 0.001, 40, 30) == "replicated (direction)"


def test_the_panel_mean_needs_every_judge_that_scores_the_answer():
    answers = pd.DataFrame({"key": ["a", "b", "c"], "question_id": ["q1", "q1", "q2"],
                            "configuration": ["rag", "base", "base"], "retrieved_chunk_ids": [["d1#0"], [], []]})
    scores = pd.DataFrame({"key": ["a", "a", "b", "b", "c"], "judge": ["x", "y", "x", "y", "x"],
                           "score": [8.0, 6.0, 4.0, np.nan, 3.0]})  # y does not score q2's kind: no verdict row
    questions = pd.DataFrame({"id": ["q1", "q2"], "stratum": ["seen", "seen"], "fact_type": ["errors", "operation_purpose"],
                              "kind": ["exact value", "what it does"], "source_doc_id": ["d1", "d2"]})
    table = statistics.combine(answers, scores, questions).set_index("key")
    assert table.loc["a", "quality"] == 7.0 and np.isnan(table.loc["b", "quality"])  # not 4.0: y's verdict failed
    assert table.loc["c", "quality"] == 3.0  # x alone scores this kind
    assert table.loc["a", "retrieval_hit"]


def test_fabrication_rates_and_their_paired_changes_are_the_constructed_ones():
    from statsmodels.stats.proportion import proportion_confint

    made_up = {"base": 16, "rag": 6, "ft": 18, "ft_rag": 10}  # of 20 probes, the first k fabricate
    probes = pd.DataFrame([{"model": "m", "question_id": f"p{q}", "configuration": c,
                            "outcome": "fabricates" if q < k else ("declines" if q % 2 else "empty")}
                           for c, k in made_up.items() for q in range(20)])
    res = StudyResults(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), [], probes=probes)
    rates = statistics.fabrication_rates(res).set_index("configuration")
    assert rates.loc["rag", "fabrication_rate"] == 6 / 20
    assert (rates.loc["rag", "ci_low"], rates.loc["rag", "ci_high"]) == pytest.approx(proportion_confint(6, 20, method="wilson"))
    assert rates.loc["rag", ["fabrication_rate", "decline_rate", "empty_rate"]].sum() == pytest.approx(1)
    changes = statistics.fabrication_changes(res, 500, 0).set_index("configuration")
    assert changes.loc["rag", "change_points"] == pytest.approx(-50)
    assert changes.loc["ft", "change_points"] == pytest.approx(10)
    assert changes.loc["rag", "ci_low"] <= -50 <= changes.loc["rag", "ci_high"] < 0
    assert changes.loc["rag", "p"] < 0.01 < changes.loc["ft", "p"]  # 10 discordant probes against 2


def test_a_run_without_probes_gets_empty_fabrication_tables_not_an_error():
    from nova_lab.analysis import report

    none = StudyResults(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), [],
                        probes=pd.DataFrame(columns=["model", "question_id", "configuration", "outcome", "question",
                                                     "answer"]))
    assert report.fabrication_table(statistics.fabrication_rates(none)).empty
    assert report.fabrication_changes_table(statistics.fabrication_changes(none, 200, 0)).empty
    assert statistics.probe_examples(none).empty


def test_the_seed_spread_sets_each_adapters_change_beside_the_question_sampling_interval():
    res = synthetic()
    again = res.answers[res.answers["configuration"].isin(["ft", "ft_rag"])].copy()
    again["quality"] = again["quality"] + 0.5  # the second seed's adapter: half a point better on every question
    again["configuration"] = again["configuration"] + "#1"
    spread = statistics.seed_spread(StudyResults(res.answers, res.scores, res.latency, res.judges, repeats=again),
                                  500, 0).set_index("configuration")
    base = res.answers[res.answers["configuration"] == "base"]["quality"].mean()
    ft = res.answers[res.answers["configuration"] == "ft"]["quality"].mean()
    assert spread.loc["ft", "repeats"] == 2
    assert spread.loc["ft", "change_by_repeat"] == pytest.approx([ft - base, ft - base + 0.5], abs=1e-3)
    assert spread.loc["ft", "seed_spread"] == pytest.approx(0.5)
    assert spread.loc["ft", "question_interval_width"] > 0
    assert statistics.seed_spread(res, 500, 0).empty  # one adapter: nothing to show


def test_repeat_labels_keep_what_the_configuration_uses():
    from nova_lab.core import results

    assert results.repeated("ft_rag#2") == ("ft_rag", 2) and results.repeated("rag") == ("rag", 0)
    assert results.uses_rag("ft_rag#1") and results.uses_adapter("ft#1") and not results.uses_rag("ft#1")
    assert results.repeat_label("ft", 0) == "ft" and results.repeat_label("ft", 3) == "ft#3"


def test_a_base_of_zero_in_some_resamples_leaves_the_interval_open_above_without_a_warning():
    import warnings

    base = np.array([0.0] * 19 + [1.0])  # most resamples draw no 1 (the fact check's base on lite is nearly all 0)
    x = np.full(20, 5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        change = statistics.paired_change(x, base, 500, 0)
    assert change["change_pct"] == pytest.approx(9900) and change["ci_high"] == np.inf and np.isfinite(change["ci_low"])


def test_judge_coverage_counts_the_answers_of_a_judges_kind_and_those_it_scored():
    answers = pd.DataFrame({"key": ["a1", "a2", "a3", "b1"], "model": ["micro"] * 3 + ["lite"]})
    scores = pd.DataFrame({  # the fact check has no row on a2 (no key facts); the LLM judge's a3 verdict was unreadable
        "answer_key": ["a1", "a1", "a2", "a3", "a3", "b1", "probe"], "model": ["micro"] * 5 + ["lite", "micro"],
        "judge": ["fact_check", "llm", "llm", "fact_check", "llm", "llm", "llm"],
        "score": [10, 8, 5, 0, np.nan, 7, 0]})
    table = statistics.judge_coverage(StudyResults(answers, scores, pd.DataFrame(), ["fact_check", "llm"]))
    rows = {(r.model, r.judge): (r.answers, r.of_its_kind, r.scored) for r in table.itertuples()}
    assert rows == {("lite", "llm"): (1, 1, 1), ("micro", "fact_check"): (3, 2, 2), ("micro", "llm"): (3, 3, 2)}
