"""The analysis notebook's figures: what a reader would rather look at than read."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from nova_lab.results import CONFIGURATIONS


def quality(answers: pd.DataFrame, seed: int) -> plt.Figure:
    """Panel score by configuration and model, with 95% bootstrap intervals of the mean."""
    figure, axes = plt.subplots(figsize=(7, 3.6))
    sns.barplot(data=answers, x="configuration", y="quality", hue="model", order=CONFIGURATIONS,
                errorbar=("ci", 95), seed=seed, ax=axes)
    axes.set(title="answer quality (panel mean, 95% CI)", xlabel="", ylabel="score (0-10)", ylim=(0, 10))
    figure.tight_layout()
    return figure


def distributions(answers: pd.DataFrame, latency: pd.DataFrame) -> plt.Figure:
    """Latency (one request at a time) and total tokens per answer, by configuration and model."""
    figure, (latency_axes, tokens_axes) = plt.subplots(1, 2, figsize=(11, 3.6))
    sns.boxplot(data=latency, x="configuration", y="latency_ms", hue="model", order=CONFIGURATIONS, ax=latency_axes)
    latency_axes.set(title="latency per request", xlabel="", ylabel="ms")
    sns.boxplot(data=answers, x="configuration", y="total_tokens", hue="model", order=CONFIGURATIONS, ax=tokens_axes)
    tokens_axes.set(title="total tokens per answer", xlabel="", ylabel="tokens", yscale="log")
    figure.tight_layout()
    return figure


def tradeoff(table: pd.DataFrame) -> plt.Figure:
    """Mean quality against mean total tokens: up and to the left is better."""
    points = table.reset_index(names=["model", "configuration"])
    figure, axes = plt.subplots(figsize=(6.5, 4))
    sns.scatterplot(data=points, x="total_tokens", y="quality", hue="model", style="configuration", s=90, ax=axes)
    for row in points.itertuples():
        axes.annotate(f"{row.model} {row.configuration}", (row.total_tokens, row.quality),
                      textcoords="offset points", xytext=(5, 4), fontsize=8)
    axes.set(title="quality against cost", xlabel="mean total tokens per answer", ylabel="mean score (0-10)")
    figure.tight_layout()
    return figure


def judge_agreement(answers: pd.DataFrame, judges: list[str], by_configuration: pd.DataFrame) -> plt.Figure:
    """The first two judges' scores against each other, and agreement per configuration."""
    figure, (scatter_axes, bar_axes) = plt.subplots(1, 2, figsize=(11, 3.8))
    first, second = judges[:2]
    sns.scatterplot(data=answers, x=first, y=second, hue="configuration", alpha=0.35, s=18, ax=scatter_axes)
    scatter_axes.plot([0, 10], [0, 10], color="grey", linewidth=0.8)
    scatter_axes.set(title="one answer, two judges", xlim=(-0.3, 10.3), ylim=(-0.3, 10.3))
    long = by_configuration.reset_index().melt(id_vars=["model", "configuration"],
                                               value_vars=["spearman", "alpha_interval", "ICC2"], var_name="measure")
    sns.barplot(data=long, x="configuration", y="value", hue="measure", order=CONFIGURATIONS, errorbar=None, ax=bar_axes)
    bar_axes.set(title="judge agreement (mean over models)", xlabel="", ylabel="", ylim=(-0.5, 1))
    figure.tight_layout()
    return figure
