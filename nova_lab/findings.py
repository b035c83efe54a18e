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
    """In the metric's unit with its interval, and in percent where the base is large enough for one to mean
    something (report.change says when)."""
    said = report.difference(row.change, row.change_low, row.change_high, row.metric)
    pct = report.change(row.change_pct, row.ci_low, row.ci_high, row.base, row.metric)
    return said if pct.startswith("n/a") else f"{said} ({pct})"


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


def _by_model(changes: pd.DataFrame, metric: str, configuration: str) -> str:
    """One change per model, "+134% [+109, +160] (micro) and +277% [+224, +345] (lite)"."""
    part = changes[(changes["metric"] == metric) & (changes["configuration"] == configuration)]
    return " and ".join(f"{_change(row)} ({row.model})" for row in part.itertuples())


def _additive(row) -> str:
    return ("more than" if row.ci_low > 0 else "less than" if row.ci_high < 0 else "not clearly different from")


def five_sentences(changes: pd.DataFrame, additivity: pd.DataFrame, decisions: pd.DataFrame) -> str:
    """What each approach buys here, in five sentences written from the tables: RAG, fine-tuning, both, what to
    choose, and how much of the study replicated. Every number and every verdict comes from the arguments."""
    sentences = []
    for configuration, name in (("rag", "RAG"), ("ft", "Fine-tuning")):
        sentences.append(f"**{name}** changed quality by {_by_model(changes, 'quality', configuration)} against base, "
                         f"total tokens per answer by {_by_model(changes, 'total_tokens', configuration)}, and the "
                         f"latency of one request by {_by_model(changes, 'latency_ms', configuration)}.")
    both = "; ".join(f"{row.model} {row.both_minus_base:+.2f} points, {_additive(row)} the two single gains added up "
                     f"({row.sum_of_single_gains:+.2f})" for row in additivity.itertuples())
    sentences.append(f"**Both together** changed quality by {_by_model(changes, 'quality', 'ft_rag')}: {both}.")
    chosen = []
    for row in decisions.itertuples():
        if row.need in ("best quality", "lowest cost per answer at acceptable quality"):
            pick = report.CONFIGURATION_NAMES[row.choice] if row.clear else (
                f"no clear winner between {report.CONFIGURATION_NAMES[row.choice]} and "
                f"{report.CONFIGURATION_NAMES[row.runner_up]}")
            chosen.append(f"{row.need}, {row.model}: {pick}")
    sentences.append("**To choose**: " + "; ".join(chosen) + " (the table below has the margins and latency).")
    replicated = replication(changes)
    counts = replicated["verdict"].str.startswith("replicated").groupby(replicated["model"], sort=False).agg(["sum", "size"])
    sentences.append("**Against the study**: " + "; ".join(
        f"{model} replicates the direction of {row['sum']} of the {row['size']} changes it reported for Nova Lite"
        for model, row in counts.iterrows()) + " (section 3 says which).")
    return " ".join(sentences)


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


def _by_kind_lines(by_kind: list[dict]) -> list[str]:
    """Quality by question kind: base's mean, and each configuration's with its change against base."""
    if not by_kind:
        return []
    frame = pd.DataFrame(by_kind)
    lines = ["", "| model | question kind | questions | base | RAG | fine-tuned | fine-tuned + RAG |",
             "| --- | --- | ---: | --- | --- | --- | --- |"]
    for (model, kind), part in frame.groupby(["model", "kind"], sort=False):
        rows = part.set_index("configuration")
        first = rows.iloc[0]
        cells = [f"{rows.loc[c, 'value']:.2f} ({_change(rows.loc[c])})" if c in rows.index else "" for c in NAMES]
        lines.append(f"| {model} | {kind} | {int(first['n'])} | {first['base']:.2f} | " + " | ".join(cells) + " |")
    return lines


def _fabrication_lines(rates: list[dict]) -> list[str]:
    """Each configuration's share of unanswerable probes answered with a fabrication, with its 95% interval."""
    if not rates:
        return []
    frame = pd.DataFrame(rates)
    configurations = ["base", *NAMES]
    lines = ["", "| fabrication on the unanswerable probes | probes | base | RAG | fine-tuned | fine-tuned + RAG |",
             "| --- | ---: | --- | --- | --- | --- |"]
    for model, part in frame.groupby("model", sort=False):
        rows = part.set_index("configuration")
        cells = [f"{rows.loc[c, 'fabrication_rate']:.0%} [{rows.loc[c, 'ci_low']:.0%}, {rows.loc[c, 'ci_high']:.0%}]"
                 if c in rows.index else "" for c in configurations]
        lines.append(f"| {model} | {int(rows['probes'].iloc[0])} | " + " | ".join(cells) + " |")
    return lines


README_START, README_END = "<!-- findings: generated by nova_lab.findings.readme_section; do not edit -->", "<!-- /findings -->"


def readme_section(recorded: dict) -> str:
    """The README's "What the offline study found", from what a run's 06 recorded (read_notebook), so that it
    says exactly what the committed analysis says; tests/test_readme.py keeps the two equal."""
    table = pd.DataFrame(recorded["study_table"]).set_index(["model", "configuration"])
    changes = pd.DataFrame(recorded["changes"])
    quality = changes[changes["metric"] == "quality"].set_index(["model", "configuration"])
    lines = [f"- {line}" for line in recorded.get("bottom_line", [])]
    lines += ["", "Quality (panel mean, points of 10) and its change against base, in points with its 95% paired "
                  "interval, and in percent where base is at least 2 points:", ""]
    lines += ["| model | base | RAG | fine-tuned | fine-tuned + RAG |", "| --- | --- | --- | --- | --- |"]
    for model in table.index.unique("model"):
        cells = [f"{table.loc[(model, 'base'), 'quality']:.2f}"]
        for configuration in NAMES:
            row = quality.loc[(model, configuration)]
            cells.append(f"{row['value']:.2f} ({_change(pd.Series(row.to_dict() | {'metric': 'quality'}))})")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    replicated = replication(changes)
    models = list(table.index.unique("model"))
    lines += ["", "| the study's change for Nova Lite | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]
    for (metric, configuration), part in replicated.groupby(["metric", "configuration"], sort=False):
        by_model = part.set_index("model")
        cells = [f"{report.change(r.ours_pct, r.ci_low, r.ci_high, 1)}: {r.verdict}" for r in
                 (by_model.loc[m] for m in models)]
        lines.append(f"| {NAMES[configuration]}, {METRICS[metric]}: {part['study_lite_pct'].iloc[0]:+.0f}% | "
                     + " | ".join(cells) + " |")
    lines += _by_kind_lines(recorded.get("quality_by_kind", [])) + _fabrication_lines(recorded.get("fabrication", []))
    lines.append("")
    for row in recorded["additivity"]:
        lines.append(f"- **Additivity, {row['model']}**: both together {row['both_minus_base']:+.2f} points against "
                     f"{row['sum_of_single_gains']:+.2f} for the two single gains added up (interaction "
                     f"{row['interaction']:+.2f}, 95% CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f}).")
    for row in recorded.get("graded_agreement", []):
        if row["part"] == "held_out" and row.get("kind", "every kind") != "every kind":
            lines.append(f"- **Judge {row['judge']} against blind grades, {row.get('kind')}** (held-out half, "
                         f"{row['answers']} answers): "
                         f"Krippendorff's alpha {row['alpha']:.2f}, Spearman {row['spearman']:.2f}, mean absolute "
                         f"error {row['mean_abs_error']:.1f} points; "
                         + ("fit to score alone." if row["fit_to_stand_alone"] else "not fit to score alone."))
    if recorded.get("graded_targets"):
        lines.append(f"- **The judges' targets**: {report.targets_summary(recorded['graded_targets'])}")
    return "\n".join([README_START, *lines, README_END])


if __name__ == "__main__":  # python -m nova_lab.findings [executed 06 notebook]: the README section, to paste
    import sys

    from nova_lab import paths
    from nova_lab.notebook_utils import read_notebook
    from nova_lab.study_steps import ANALYSIS

    print(readme_section(read_notebook(sys.argv[1] if len(sys.argv) > 1 else paths.run_dir("study") / f"{ANALYSIS.name}.ipynb")))
