"""Agreement between LLM judges who score the same answers 0-10.

A judge score is only evidence if other judges would give the same score, so the study reports
how far judges agree: Krippendorff's interval alpha (tolerates unparsed, NaN scores), Shrout &
Fleiss ICCs (complete cases), and pairwise Pearson/Spearman correlations.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats


def _pair_sq_sum(n: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """sum_{i!=j} (x_i - x_j)^2 from count, sum and sum of squares, avoiding the O(m^2) pairs."""
    return 2 * (n * q - s**2)


def krippendorff_alpha_interval(ratings: pd.DataFrame) -> float:
    """Krippendorff's alpha, interval metric; rows are units, columns raters, NaN missing."""
    x = ratings.to_numpy(float)
    pairable = np.sum(~np.isnan(x), axis=1) >= 2
    x = x[pairable]
    m = np.sum(~np.isnan(x), axis=1)
    if len(m) < 2:
        return float("nan")
    s, q = np.nansum(x, axis=1), np.nansum(x**2, axis=1)
    n = m.sum()
    d_o = np.sum(_pair_sq_sum(m, s, q) / (m - 1)) / n
    d_e = _pair_sq_sum(n, s.sum(), q.sum()) / (n * (n - 1))
    return float(1 - d_o / d_e) if d_e > 0 else float("nan")


def icc(ratings: pd.DataFrame) -> dict[str, float]:
    """Shrout & Fleiss single-rater ICC(1,1), ICC(2,1) absolute agreement, ICC(3,1) consistency.

    Uses complete cases only: the two-way ANOVA needs every judge to score every answer.
    """
    x = ratings.dropna().to_numpy(float)
    n, k = x.shape
    if n < 2 or k < 2:
        return {"ICC1": np.nan, "ICC2": np.nan, "ICC3": np.nan}
    grand = x.mean()
    ss_total = np.sum((x - grand) ** 2)
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    msr, msc, msw = ss_rows / (n - 1), ss_cols / (k - 1), (ss_total - ss_rows) / (n * (k - 1))
    mse = (ss_total - ss_rows - ss_cols) / ((n - 1) * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "ICC1": float((msr - msw) / (msr + (k - 1) * msw)),
            "ICC2": float((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)),
            "ICC3": float((msr - mse) / (msr + (k - 1) * mse)),
        }


def _correlate(a: pd.Series, b: pd.Series) -> dict[str, float]:
    """Pearson and Spearman on rows where both judges scored; NaN if too few or constant."""
    both = a.notna() & b.notna()
    a, b = a[both], b[both]
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return {"n": len(a), "pearson": np.nan, "spearman": np.nan}
    return {"n": len(a), "pearson": stats.pearsonr(a, b)[0], "spearman": stats.spearmanr(a, b)[0]}


def pairwise(ratings: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of raters (rater_a, rater_b, n, pearson, spearman)."""
    rows = [{"rater_a": a, "rater_b": b, **_correlate(ratings[a], ratings[b])}
            for a, b in combinations(ratings.columns, 2)]
    return pd.DataFrame(rows, columns=["rater_a", "rater_b", "n", "pearson", "spearman"])


def _summary(scores: pd.DataFrame) -> pd.Series:
    """All agreement statistics for one group of long-format scores."""
    wide = scores.pivot_table(index="answer_key", columns="judge", values="score", aggfunc="mean", dropna=False)
    pairs, iccs = pairwise(wide), icc(wide)
    return pd.Series({
        "n_answers": len(wide), "pearson": pairs["pearson"].mean(), "spearman": pairs["spearman"].mean(),
        "alpha_interval": krippendorff_alpha_interval(wide), "ICC2": iccs["ICC2"], "ICC3": iccs["ICC3"],
    })


def agreement_table(scores: pd.DataFrame, by: str | list[str] | None = None) -> pd.DataFrame:
    """Agreement per group of long scores (answer_key, judge, score); `by` values form the index.

    With by=None the single row is indexed "all". Repeated (answer_key, judge) scores are averaged.
    """
    if by is None:
        return _summary(scores).to_frame("all").T.astype({"n_answers": int})
    table = scores.groupby(by, sort=True)[["answer_key", "judge", "score"]].apply(_summary)
    return table.astype({"n_answers": int})
