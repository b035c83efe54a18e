"""The choice as a trade-off: what a decision-maker weighs, one row per (model, configuration).

A single "what to choose" per need hides the trade-off that matters (a configuration a little below
the best may answer in half the time at a fifth of the cost). So each configuration gets its
absolute quality (the panel's mean in points, with a 95% bootstrap interval over questions), the
share of answers good enough to act on (panel score >= GOOD_ANSWER), its fabrication rate on the
unanswerable probes, its latency (median and 90th percentile of the timed requests) and its cost
per million answers; a configuration that no other of the same model matches or beats on every one
of those columns is marked *unbeaten* (the Pareto front). The winner per question kind says where
the best configuration differs from the overall one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from nova_lab.analysis.statistics import StudyResults, mean_difference, paired_interval
from nova_lab.judging.judges import GOOD_ANSWER

# the columns the front is drawn on, and which way is better
WEIGHED = {"quality": "higher", "share_good": "higher", "fabrication_rate": "lower", "latency_p50_ms": "lower",
           "usd_per_million_answers": "lower"}


def mean_interval(values: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean (scipy), or the mean twice when it cannot vary."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.all(values == values[0]):
        return float(np.mean(values)), float(np.mean(values))
    result = stats.bootstrap((values,), np.mean, n_resamples=resamples, method="percentile", random_state=seed)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def table(res: StudyResults, fabrication_rates: pd.DataFrame, usd_per_million: pd.Series, resamples: int,
          seed: int) -> pd.DataFrame:
    """One row per (model, configuration): quality (points, interval), share good, fabrication rate, latency
    median and p90, USD per million answers (`usd_per_million`, by model and configuration: what an answer costs
    to own, costs.ownership's, so the page has one such figure), and whether it is unbeaten among its model's."""
    answers = res.answers
    latency = res.latency.groupby(["model", "configuration"], sort=False)["latency_ms"]
    fabricated = fabrication_rates.set_index(["model", "configuration"])["fabrication_rate"]
    rows = []
    for (model, configuration), part in answers.groupby(["model", "configuration"], sort=False):
        low, high = mean_interval(part["quality"].dropna().to_numpy(), resamples, seed)
        timed = latency.get_group((model, configuration)) if (model, configuration) in latency.groups else pd.Series()
        rows.append({"model": model, "configuration": configuration, "answers": int(part["quality"].notna().sum()),
                     "quality": part["quality"].mean(), "quality_low": low, "quality_high": high,
                     "share_good": (part["quality"] >= GOOD_ANSWER).mean(),
                     "fabrication_rate": fabricated.get((model, configuration), np.nan),
                     "latency_p50_ms": timed.median(), "latency_p90_ms": timed.quantile(0.9),
                     "usd_per_million_answers": usd_per_million[(model, configuration)]})
    frame = pd.DataFrame(rows)
    return frame.assign(unbeaten=pd.concat([unbeaten(part) for _, part in frame.groupby("model", sort=False)]))


def unbeaten(frame: pd.DataFrame) -> pd.Series:
    """Per row: no other row is at least as good on every WEIGHED column and better on one (a column that is NaN
    for either row, such as fabrication without probes, is left out of that comparison)."""
    signs = {column: 1 if better == "higher" else -1 for column, better in WEIGHED.items()}
    values = frame[list(WEIGHED)].to_numpy(dtype=float) * np.array(list(signs.values()))
    beaten = []
    for i, row in enumerate(values):
        others = np.delete(values, i, axis=0)
        known = ~np.isnan(others) & ~np.isnan(row)
        at_least = np.where(known, others >= row, True).all(axis=1)
        better = np.where(known, others > row, False).any(axis=1)
        beaten.append(bool((at_least & better).any()))
    return pd.Series([not b for b in beaten], index=frame.index, name="unbeaten")


def paired_difference(x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """Mean of x minus mean of y on the same questions, with its 95% paired bootstrap interval."""
    difference = float(np.mean(x) - np.mean(y))
    if len(x) < 2 or np.allclose(x, y):
        return difference, difference, difference
    low, high = paired_interval(mean_difference, x, y, resamples, seed)
    return difference, low, high


def decide(wide: pd.DataFrame, candidates: list[str], better: str, resamples: int, seed: int) -> dict[str, object]:
    """The winner among `candidates` (columns of a question x configuration table) and its margin."""
    means = wide[candidates].mean().sort_values(ascending=better == "lower")
    if len(means) == 1:
        return {"choice": means.index[0], "runner_up": "", "margin": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "clear": True}
    first, second = means.index[:2]
    difference, low, high = paired_difference(wide[first].to_numpy(), wide[second].to_numpy(), resamples, seed)
    clear = low > 0 or high < 0
    return {"choice": first, "runner_up": second, "margin": difference, "ci_low": low, "ci_high": high, "clear": clear}


def winners_by_kind(res: StudyResults, resamples: int, seed: int) -> pd.DataFrame:
    """Per model and question kind: the configuration with the best mean quality, the runner-up, the margin in
    points with its paired 95% interval, and whether the lead is clear (the interval excludes zero)."""
    rows = []
    for (model, kind), part in res.answers.groupby(["model", "kind"], sort=False):
        wide = part.pivot_table(index="question_id", columns="configuration", values="quality").dropna()
        if wide.empty:  # no question of this kind has a panel score in every configuration (unreadable verdicts)
            continue
        rows.append({"model": model, "kind": kind, "questions": len(wide),
                     **decide(wide, list(wide.columns), "higher", resamples, seed)})
    return pd.DataFrame(rows, columns=["model", "kind", "questions", "choice", "runner_up", "margin", "ci_low",
                                       "ci_high", "clear"])
