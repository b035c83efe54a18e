"""The analysis in words, generated from the numbers: what each approach buys, what replicated."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nova_lab import report
from nova_lab.analysis import STUDY_REPORTED

NAMES = {"rag": "RAG", "ft": "fine-tuning", "ft_rag": "fine-tuning + RAG"}
METRICS = {"quality": "quality", "latency_ms": "latency", "total_tokens": "total tokens"}


MIN_QUESTIONS = 10
ALPHA = 0.05


def verdict(low: float, high: float, p_holm: float, n: int, reported: float) -> str:
    """Replicated when our 95% interval lies wholly on the side of zero the study reported and
    the Holm-corrected test agrees; a handful of questions decides nothing."""
    if n < MIN_QUESTIONS:
        return "too few questions to tell"
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high or not p_holm < ALPHA:
        return "not replicated: no clear change"
    ours = 1 if low > 0 else -1
    return "replicated (direction)" if ours == np.sign(reported) else "not replicated: opposite direction"


def replication(changes: pd.DataFrame) -> pd.DataFrame:
    """Each change the study reported for Nova Lite next to ours, per model."""
    rows = []
    for (metric, configuration), reported in STUDY_REPORTED.items():
        for row in changes[(changes["metric"] == metric) & (changes["configuration"] == configuration)].itertuples():
            rows.append({"metric": metric, "configuration": configuration, "study_lite_pct": reported,
                         "model": row.model, "ours_pct": row.change_pct, "ci_low": row.ci_low, "ci_high": row.ci_high,
                         "p_holm": row.p_holm, "verdict": verdict(row.ci_low, row.ci_high, row.p_holm, row.n, reported)})
    return pd.DataFrame(rows)


def _change(row: pd.Series) -> str:
    return report.change(row.change_pct, row.ci_low, row.ci_high, row.base)


def _model_paragraph(model: str, changes: pd.DataFrame, additivity: pd.Series) -> str:
    lines = []
    for metric, label in METRICS.items():
        part = changes[(changes["model"] == model) & (changes["metric"] == metric)].set_index("configuration")
        said = [f"{NAMES[c]} {_change(part.loc[c])}" for c in NAMES if c in part.index]
        lines.append(f"{label} against base: " + "; ".join(said) + ".")
    gap = additivity
    kind = ("more than additive" if gap.ci_low > 0 else "less than additive" if gap.ci_high < 0
            else "not clearly different from additive")
    lines.append(f"Both together gained {gap.both_minus_base:.2f} points against {gap.sum_of_single_gains:.2f} for the "
                 f"two single gains added up: {kind} (interaction {gap.interaction:+.2f}, "
                 f"95% CI {gap.ci_low:+.2f} to {gap.ci_high:+.2f}).")
    return f"**{model}**: " + " ".join(lines)


def summary(changes: pd.DataFrame, additivity: pd.DataFrame, table: pd.DataFrame) -> str:
    """A few paragraphs of Markdown from the overall changes; every number comes from the tables."""
    paragraphs = [_model_paragraph(row.model, changes, row) for row in additivity.itertuples()]
    replicated = replication(changes)
    counts = replicated["verdict"].str.startswith("replicated").groupby(replicated["model"]).agg(["sum", "size"])
    paragraphs.append("Against the study's figures for Nova Lite: " + "; ".join(
        f"{model} replicates the direction of {row['sum']} of {row['size']}" for model, row in counts.iterrows())
        + ". The table below says which; magnitudes differ, since the stand-in models are ~100x smaller than Nova.")
    models = table.index.unique("model")
    if {"micro", "lite"} <= set(models):
        paragraphs.append(
            f"Micro with fine-tuning + RAG scores {table.loc[('micro', 'ft_rag'), 'quality']:.2f}, against "
            f"{table.loc[('lite', 'base'), 'quality']:.2f} for Lite's base and "
            f"{table.loc[('lite', 'ft_rag'), 'quality']:.2f} for Lite with both.")
    return "\n\n".join(paragraphs)
