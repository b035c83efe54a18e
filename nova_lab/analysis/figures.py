"""The analysis notebook's figures: what a reader would rather look at than read."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from nova_lab.core.vocabulary import CHANGES, CONFIGURATION_NAMES, HEADLINE_METRICS

ORDER = list(CONFIGURATION_NAMES.values())  # the configurations in words, in the study's order


def _in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """Configurations by their names in words, as every table of the page writes them."""
    return frame.assign(configuration=frame["configuration"].map(CONFIGURATION_NAMES))


def quality(answers: pd.DataFrame, seed: int) -> plt.Figure:
    """Panel score by configuration and model, with 95% bootstrap intervals of the mean."""
    figure, axes = plt.subplots(figsize=(7, 3.6))
    sns.barplot(data=_in_words(answers), x="configuration", y="quality", hue="model", order=ORDER,
                errorbar=("ci", 95), seed=seed, ax=axes)
    axes.set(title="answer quality (panel mean, 95% CI)", xlabel="", ylabel="score (0-10)", ylim=(0, 10))
    figure.tight_layout()
    return figure


def distributions(answers: pd.DataFrame, latency: pd.DataFrame) -> plt.Figure:
    """Latency (one request at a time) and total tokens per answer, by configuration and model."""
    figure, (latency_axes, tokens_axes) = plt.subplots(1, 2, figsize=(11, 3.6))
    sns.boxplot(data=_in_words(latency), x="configuration", y="latency_ms", hue="model", order=ORDER, ax=latency_axes)
    latency_axes.set(title="latency of one request", xlabel="", ylabel="ms")
    sns.boxplot(data=_in_words(answers), x="configuration", y="total_tokens", hue="model", order=ORDER,
                ax=tokens_axes)
    tokens_axes.set(title="total tokens per answer", xlabel="", ylabel="tokens (log scale)", yscale="log")
    figure.tight_layout()
    return figure


MARKERS = {"base": "o", "rag": "s", "ft": "^", "ft_rag": "D"}  # one shape per configuration, one colour per model


def tradeoff(trade: pd.DataFrame) -> plt.Figure:
    """Quality (points, 95% interval) against the cost of a million answers, per model and configuration (the
    trade-off table's rows): up and to the left is better. Colour is the model, shape the configuration (a legend,
    not labels, which overlap where two configurations cost the same); a filled marker is a configuration no other
    of its model beats on every column of the table, a hollow one is beaten."""

    figure, axes = plt.subplots(figsize=(8, 4.2))
    colors = dict(zip(dict.fromkeys(trade["model"]), sns.color_palette("deep")))
    for row in trade.itertuples():
        axes.errorbar(row.usd_per_million_answers, row.quality, yerr=[[row.quality - row.quality_low],
                      [row.quality_high - row.quality]], fmt=MARKERS[row.configuration], markersize=9, capsize=3,
                      color=colors[row.model], markerfacecolor=colors[row.model] if row.unbeaten else "white")
    handles = [plt.Line2D([], [], marker="o", linestyle="none", color=color, label=model) for model, color in colors.items()]
    handles += [plt.Line2D([], [], marker=marker, linestyle="none", color="grey", label=CONFIGURATION_NAMES[c])
                for c, marker in MARKERS.items() if c in set(trade["configuration"])]
    handles.append(plt.Line2D([], [], marker="o", linestyle="none", color="grey", markerfacecolor="white",
                              label="hollow: beaten on every column"))
    axes.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
    axes.set(title="quality against the cost of an answer",
             xlabel="USD per million answers (on-demand, the Nova model each size plays)",
             ylabel="panel mean, points of 10 (95% CI)")
    figure.tight_layout()
    return figure


MEASURES = {"spearman": "Spearman", "alpha_interval": "Krippendorff's alpha", "ICC2": "ICC(2,1)"}


def judge_agreement(answers: pd.DataFrame, judges: list[str], by_configuration: pd.DataFrame) -> plt.Figure:
    """The first two judges' scores against each other, and agreement per configuration."""
    figure, (scatter_axes, bar_axes) = plt.subplots(1, 2, figsize=(11, 3.8))
    first, second = judges[:2]
    sns.scatterplot(data=_in_words(answers), x=first, y=second, hue="configuration", hue_order=ORDER, alpha=0.35,
                    s=18, ax=scatter_axes)
    scatter_axes.plot([0, 10], [0, 10], color="grey", linewidth=0.8)
    scatter_axes.set(title="one answer, two judges", xlim=(-0.3, 10.3), ylim=(-0.3, 10.3),
                     xlabel=f"{first.replace('_', ' ')} judge (0-10)", ylabel=f"{second.replace('_', ' ')} judge (0-10)")
    long = by_configuration.reset_index().melt(id_vars=["model", "configuration"], value_vars=list(MEASURES),
                                               var_name="measure")
    long = _in_words(long).assign(measure=long["measure"].map(MEASURES))
    sns.barplot(data=long, x="configuration", y="value", hue="measure", order=ORDER, errorbar=None, ax=bar_axes)
    bar_axes.set(title="judge agreement (mean over models)", xlabel="", ylabel="agreement", ylim=(-0.5, 1))
    figure.tight_layout()
    return figure


GLANCE_UNITS = {"quality": "change against base (points of 10)", "latency_ms": "change against base (%)",
                "total_tokens": "change against base (%)"}
OURS = "#1f4e79"  # every dot one colour, as the legend draws it: the configurations are the rows


def at_a_glance(changes: pd.DataFrame) -> plt.Figure:
    """Per model (rows) and metric (columns): each configuration's change against base with its 95% paired
    interval, quality in points (its base is near zero, where a percentage means nothing), latency and tokens in
    percent. On the Nova Lite stand-in's row, the change the study reported for Nova Lite is a hollow diamond for
    latency and tokens, so that "replicated or not" is seen before it is read; the study gave Micro's no figures."""

    models = list(dict.fromkeys(changes["model"]))
    configurations = [c for c in CHANGES if c in set(changes["configuration"])]
    figure, grid = plt.subplots(len(models), len(HEADLINE_METRICS), figsize=(12, 2.3 * len(models) + 0.8), squeeze=False,
                                sharey=True)
    for row, model in enumerate(models):
        for column, (metric, label) in enumerate(HEADLINE_METRICS.items()):
            axes = grid[row][column]
            part = changes[(changes["model"] == model) & (changes["metric"] == metric)].set_index("configuration")
            in_points = metric == "quality"
            for y, configuration in enumerate(configurations):
                if configuration not in part.index:
                    continue
                r = part.loc[configuration]
                value, low, high = (r.change, r.change_low, r.change_high) if in_points else (r.change_pct, r.ci_low, r.ci_high)
                axes.errorbar(value, y, xerr=[[max(value - low, 0)], [max(high - value, 0)]], fmt="o", color=OURS,
                              capsize=4)
                if model == "lite" and not in_points and pd.notna(r.study_lite_pct):
                    axes.plot(r.study_lite_pct, y, marker="D", markersize=8, markerfacecolor="none",
                              markeredgecolor="black", linestyle="none")
            axes.axvline(0, color="grey", linewidth=0.8)
            axes.set_yticks(range(len(configurations)), [CONFIGURATION_NAMES[c] for c in configurations])
            axes.set_ylim(-0.6, len(configurations) - 0.4)
            axes.set_title(f"{model}: {label}", fontsize=10)
            axes.set_xlabel(GLANCE_UNITS[metric] if row == len(models) - 1 else "")
    handles = [plt.Line2D([], [], marker="o", linestyle="none", color=OURS, label="this run, 95% CI"),
               plt.Line2D([], [], marker="D", linestyle="none", markerfacecolor="none", markeredgecolor="black",
                          label="the study's change for Nova Lite (lite's row)")]
    grid[0][0].invert_yaxis()  # shared: RAG first, top to bottom
    figure.legend(handles=handles, loc="upper right", ncol=2, frameon=False)
    figure.suptitle("What each approach buys against base", x=0.01, ha="left", fontsize=12)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return figure
