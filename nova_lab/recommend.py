"""Which configuration to choose, for three needs, drawn from the numbers and never written by hand.

For each model: the best quality; the lowest latency among configurations of acceptable quality;
the lowest cost per answer among them. "Acceptable" is a share of the best configuration's mean
quality (a parameter). A configuration wins when its paired 95% interval against the runner-up
lies wholly on its side of zero; when the interval overlaps zero there is no clear winner, and
the table says so and names both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nova_lab.analysis import mean_difference, paired_interval
from nova_lab.costs import each_answer
from nova_lab.report import CONFIGURATION_NAMES

NEEDS = {
    "best quality": ("quality", "higher"),
    "lowest latency at acceptable quality": ("latency_ms", "lower"),
    "lowest cost per answer at acceptable quality": ("usd_per_answer", "lower"),
}


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


def table(answers: pd.DataFrame, latency: pd.DataFrame, acceptable_share: float, resamples: int,
          seed: int) -> pd.DataFrame:
    """One row per model and need: the choice, by how much over the runner-up (with its interval), or no clear
    winner. `answers` has one row per answer with `quality` and tokens; `latency` one row per timed request."""
    answers = answers.assign(usd_per_answer=each_answer(answers))
    rows = []
    for model, part in answers.groupby("model", sort=False):
        quality = part.pivot_table(index="question_id", columns="configuration", values="quality").dropna()
        best = quality.mean().max()
        acceptable = [c for c, mean in quality.mean().items() if mean >= acceptable_share * best]
        for need, (metric, better) in NEEDS.items():
            source = latency[latency["model"] == model] if metric == "latency_ms" else part
            wide = source.pivot_table(index="question_id", columns="configuration", values=metric).dropna()
            candidates = list(quality.columns) if need == "best quality" else [c for c in acceptable if c in wide]
            rows.append({"model": model, "need": need, "acceptable": ", ".join(CONFIGURATION_NAMES[c] for c in acceptable),
                         "metric": metric, **decide(wide, candidates, better, resamples, seed)})
    return pd.DataFrame(rows)


def in_words(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions as a reader wants them: the choice, or "no clear winner" naming both, and the margin."""
    units = {"quality": ("{:+.2f}", "points", 1), "latency_ms": ("{:+.0f}", "ms", 1),
             "usd_per_answer": ("{:+.5f}", "USD per 1,000 answers", 1000)}
    rows = []
    for row in decisions.itertuples():
        name, runner = CONFIGURATION_NAMES[row.choice], CONFIGURATION_NAMES.get(row.runner_up, "")
        number, unit, factor = units[row.metric]
        if not runner:
            verdict, margin = name, "the only configuration of acceptable quality"
        else:
            verdict = name if row.clear else f"no clear winner ({name} or {runner})"
            margin = (f"{number.format(row.margin * factor)} {unit} against {runner} "
                      f"[{number.format(row.ci_low * factor)}, {number.format(row.ci_high * factor)}]")
        rows.append({"model": row.model, "need": row.need, "choose": verdict, "by how much (95% CI)": margin})
    return pd.DataFrame(rows)

