import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nova_lab.judging.agreement import agreement_table, icc, krippendorff_alpha_interval, pairwise

nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": observers as rows, units as columns.
KRIPPENDORFF_2011 = pd.DataFrame(
    [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
     [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]],
    index=list("ABCD"),
).T

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
SHROUT_FLEISS = pd.DataFrame([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_alpha_matches_krippendorff_2011():
    assert krippendorff_alpha_interval(KRIPPENDORFF_2011) == pytest.approx(0.849, abs=5e-4)


def test_icc_matches_shrout_fleiss_1979():
    result = icc(SHROUT_FLEISS)
    assert result["ICC1"] == pytest.approx(0.17, abs=5e-3)
    assert result["ICC2"] == pytest.approx(0.29, abs=5e-3)
    assert result["ICC3"] == pytest.approx(0.71, abs=5e-3)


def test_perfect_agreement_and_noise():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 11, 50).astype(float)
    perfect = pd.DataFrame({"a": truth, "b": truth, "c": truth})
    assert krippendorff_alpha_interval(perfect) == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in icc(perfect).values())
    noisy = pd.DataFrame({"a": truth, "b": truth + rng.normal(0, 2, 50)})
    assert krippendorff_alpha_interval(noisy) < 0.99


def test_degenerate_inputs_give_nan():
    constant = pd.DataFrame({"a": [5.0, 5, 5], "b": [5.0, 5, 5]})
    assert np.isnan(krippendorff_alpha_interval(constant))
    one_unit = pd.DataFrame({"a": [1.0, nan], "b": [2.0, 3]})
    assert np.isnan(krippendorff_alpha_interval(one_unit))
    assert all(np.isnan(v) for v in icc(one_unit).values())


def test_pairwise_matches_scipy_and_drops_nan_rows():
    ratings = pd.DataFrame({"a": [1.0, 4, 2, 8, nan, 6], "b": [2.0, 3, 2, 9, 5, nan], "c": [7.0, 7, 7, 7, 7, 7]})
    table = pairwise(ratings).set_index(["rater_a", "rater_b"])
    assert list(table.index) == [("a", "b"), ("a", "c"), ("b", "c")]
    ab = table.loc[("a", "b")]
    assert ab["n"] == 4
    assert ab["pearson"] == pytest.approx(stats.pearsonr([1, 4, 2, 8], [2, 3, 2, 9])[0])
    assert ab["spearman"] == pytest.approx(stats.spearmanr([1, 4, 2, 8], [2, 3, 2, 9])[0])
    assert np.isnan(table.loc[("a", "c"), "pearson"])  # constant rater


def test_agreement_table_by_configuration():
    rng = np.random.default_rng(1)
    rows = []
    for configuration, n_answers in [("rag", 12), ("finetune", 8)]:
        for i in range(n_answers):
            truth = rng.integers(0, 11)
            for judge in ("j1", "j2"):
                rows.append({"configuration": configuration, "model": "m", "answer_key": f"{configuration}{i}",
                             "judge": judge, "score": float(np.clip(truth + rng.integers(-1, 2), 0, 10))})
    rows.append({**rows[0], "score": nan})  # an unparsed repeat is ignored by the mean
    scores = pd.DataFrame(rows)
    table = agreement_table(scores, by="configuration")
    assert table.loc["rag", "n_answers"] == 12 and table.loc["finetune", "n_answers"] == 8
    assert set(table.columns) == {"n_answers", "pearson", "spearman", "alpha_interval", "ICC2", "ICC3"}
    overall = agreement_table(scores)
    assert list(overall.index) == ["all"] and overall.loc["all", "n_answers"] == 20
    assert 0 < overall.loc["all", "alpha_interval"] <= 1
