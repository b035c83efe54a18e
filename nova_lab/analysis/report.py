"""The analysis's numbers as a reader meets them: configurations and metrics in words, units in
the headers, changes written `+134% [+109, +160]`, p-values as `< 0.001`, a change against a
base of zero as "n/a (base is 0)", and no positional index. The analysis modules compute; this
one only writes what they computed for people.
"""

from __future__ import annotations

import math

import pandas as pd
from pandas.io.formats.style import Styler

from nova_lab.core.vocabulary import CONFIGURATION_NAMES, METRIC_NAMES
from nova_lab.judging.graded_set import FIT_ALPHA
from nova_lab.judging.judges import GOOD_ANSWER


def metric_name(metric: str) -> str:
    """A metric in words with its unit; a judge's column is its score on the 0-10 scale."""
    return METRIC_NAMES.get(metric, f"{metric.replace('_', ' ')} judge (0-10)")


# a change in percent is shown only where base's mean is at least this on the 0-10 scale: against a base near zero
# (the stand-ins' base answers) a percentage is as large as it is meaningless ("+519%" on a base graded 0)
PERCENT_MIN_BASE = 2.0
SCORE_METRICS = ("quality",)  # and every judge's column: the 0-10 scores the rule applies to


def on_score_scale(metric: str) -> bool:
    return metric in SCORE_METRICS or metric not in METRIC_NAMES


def change(pct: float, low: float, high: float, base: float, metric: str = "latency_ms") -> str:
    """`+134% [+109, +160]`; no percentage against a base of zero, or, for a 0-10 score, below PERCENT_MIN_BASE."""
    if base == 0:
        return "n/a (base is 0)"
    if on_score_scale(metric) and base < PERCENT_MIN_BASE:
        return f"n/a (base {base:.2f} < {PERCENT_MIN_BASE:g})"
    if not math.isfinite(pct):
        return "n/a"
    if math.isfinite(low) and high == math.inf:  # base was 0 in some resamples: no upper bound
        return f"{pct:+.0f}% [{low:+.0f}, no upper bound]"
    interval = f" [{low:+.0f}, {high:+.0f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{pct:+.0f}%{interval}"


def difference(value: float, low: float, high: float, metric: str) -> str:
    """A change in the metric's unit with its interval: `+1.52 points [+1.20, +1.85]`, `-420 ms [-510, -330]`."""
    unit, digits = ("points", 2) if on_score_scale(metric) else ("ms", 0) if metric == "latency_ms" else ("tokens", 0)
    interval = f" [{low:+.{digits}f}, {high:+.{digits}f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{value:+.{digits}f} {unit}{interval}"


def p_value(p: float) -> str:
    if not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def changes_table(changes: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """`statistics.changes` for people: one row per model (and `by` group), metric and configuration against base."""
    return pd.DataFrame({
        "model": changes["model"], **{column: changes[column] for column in by},
        "metric": changes["metric"].map(metric_name),
        "configuration": changes["configuration"].map(CONFIGURATION_NAMES),
        "questions": changes["n"],
        "base": changes["base"].round(2),
        "this configuration": changes["value"].round(2),
        "change against base [95% CI]": [difference(r.change, r.change_low, r.change_high, r.metric)
                                         for r in changes.itertuples()],
        "in percent [95% CI]": [change(r.change_pct, r.ci_low, r.ci_high, r.base, r.metric) for r in changes.itertuples()],
        "p (Wilcoxon, Holm)": changes["p_holm"].map(p_value),
        "study, Nova Lite": changes["study_lite_pct"].map(lambda v: f"{v:+.0f}%" if math.isfinite(v) else ""),
    })


def study_table(table: pd.DataFrame) -> pd.DataFrame:
    """`statistics.study_table` for people: model and configuration as columns, metrics in words."""
    shown = table.reset_index(names=["model", "configuration"])
    shown["configuration"] = shown["configuration"].map(CONFIGURATION_NAMES)
    names = {"latency_mean_ms": "latency mean (ms)", "latency_p50_ms": "latency p50 (ms)",
             "latency_p90_ms": "latency p90 (ms)"}
    return shown.rename(columns=lambda c: names.get(c) or (metric_name(c) if c not in ("model", "configuration") else c))


def replication_table(replication: pd.DataFrame) -> pd.DataFrame:
    """`statistics.replication` for people."""
    return pd.DataFrame({
        "model": replication["model"], "metric": replication["metric"].map(metric_name),
        "configuration": replication["configuration"].map(CONFIGURATION_NAMES),
        "study, Nova Lite": replication["study_lite_pct"].map(lambda v: f"{v:+.0f}%"),
        "ours [95% CI]": [replicated_change(r) for r in replication.itertuples()],
        "p (Wilcoxon, Holm)": replication["p_holm"].map(p_value), "verdict": replication["verdict"]})


def replicated_change(row) -> str:
    """Our change beside the study's percentage: in percent where the base allows one (`change`), else in points
    with the reason, since a percentage of a base near zero says nothing about the study's."""
    if on_score_scale(row.metric) and 0 < row.base < PERCENT_MIN_BASE:
        return f"{row.change:+.2f} points (base {row.base:.2f}: no percentage)"
    return change(row.ours_pct, row.ci_low, row.ci_high, row.base, row.metric)


def additivity_table(additivity: pd.DataFrame) -> pd.DataFrame:
    """`statistics.additivity` for people, in panel points."""
    return pd.DataFrame({
        "model": additivity["model"], "questions": additivity["n"],
        "both against base (points)": additivity["both_minus_base"].round(2),
        "the two single gains added (points)": additivity["sum_of_single_gains"].round(2),
        "interaction [95% CI] (points)": [f"{r.interaction:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
                                          for r in additivity.itertuples()],
        "p (Wilcoxon)": additivity["p"].map(p_value),
        "reading": [additivity_reading(r.ci_low, r.ci_high, r.p) for r in additivity.itertuples()]})


def additivity_reading(low: float, high: float, p: float, alpha: float = 0.05) -> str:
    """What the interaction says, resting on both the interval (of the mean) and Wilcoxon's test (of the median
    difference): where they disagree, the page says so rather than picking the one that makes a finding."""
    side = "more than additive" if low > 0 else "less than additive" if high < 0 else None
    if side is None:
        return "not clearly different from additive" + (f" (though p = {p_value(p)})" if p < alpha else "")
    if p < alpha:
        return side
    return f"{side} by the interval, not by the test (p = {p_value(p)}): not settled"


def percent(share: float, low: float, high: float) -> str:
    """A share with its interval, in percent: `45% [33, 58]`."""
    return f"{100 * share:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def fabrication_table(rates: pd.DataFrame) -> pd.DataFrame:
    """`statistics.fabrication_rates` for people."""
    return pd.DataFrame({
        "model": rates["model"], "configuration": rates["configuration"].map(CONFIGURATION_NAMES),
        "probes": rates["probes"],
        "fabricates [95% CI]": [percent(r.fabrication_rate, r.ci_low, r.ci_high) for r in rates.itertuples()],
        "says it does not exist or does not know": rates["decline_rate"].map(lambda v: f"{100 * v:.0f}%"),
        "empty": rates["empty_rate"].map(lambda v: f"{100 * v:.0f}%")})


def fabrication_changes_table(changes: pd.DataFrame) -> pd.DataFrame:
    """`statistics.fabrication_changes` for people, in percentage points."""
    return pd.DataFrame({
        "model": changes["model"], "configuration": changes["configuration"].map(CONFIGURATION_NAMES),
        "probes": changes["n"], "base fabricates": changes["base"].map(lambda v: f"{100 * v:.0f}%"),
        "this configuration": changes["value"].map(lambda v: f"{100 * v:.0f}%"),
        "change [95% CI] (points)": [f"{r.change_points:+.0f} [{r.ci_low:+.0f}, {r.ci_high:+.0f}]"
                                     if math.isfinite(r.ci_low) else f"{r.change_points:+.0f}"
                                     for r in changes.itertuples()],
        "p (McNemar, exact)": changes["p"].map(p_value)})


def seed_spread_table(spread: pd.DataFrame) -> pd.DataFrame:
    """`statistics.seed_spread` for people, in panel points."""
    points = lambda values: ", ".join(f"{v:+.2f}" for v in values)  # noqa: E731
    return pd.DataFrame({
        "model": spread["model"], "configuration": spread["configuration"].map(CONFIGURATION_NAMES),
        "adapters (seeds)": spread["repeats"], "questions": spread["questions"],
        "quality by adapter (0-10)": spread["quality_by_repeat"].map(lambda v: ", ".join(f"{x:.2f}" for x in v)),
        "change against base by adapter (points)": spread["change_by_repeat"].map(points),
        "spread between seeds (points)": spread["seed_spread"].round(2),
        "width of the 95% question-sampling interval (points)": spread["question_interval_width"].round(2)})


def usd(value: float) -> str:
    """Dollars to the cent, or to four places below a cent (a knowledge base's storage is a fraction of one)."""
    return f"{value:,.4f}" if 0 < abs(value) < 0.01 else f"{value:,.2f}"


def ownership_table(own: pd.DataFrame) -> pd.DataFrame:
    """`costs.ownership` for people."""
    return pd.DataFrame({
        "model": own["model"], "configuration": own["configuration"].map(CONFIGURATION_NAMES),
        "once (USD)": own["once_usd"].map(usd),
        "every month, on demand (USD)": own["monthly_usd"].map(usd),
        "per million answers (USD)": own["usd_per_1000_answers"].map(lambda v: f"{1000 * v:,.2f}"),
        "provisioned throughput instead, a month (USD)": own["provisioned_usd_per_month"].map(
            lambda v: f"{v:,.0f} per model unit" if math.isfinite(v) else "")})


def monthly_table(monthly: pd.DataFrame) -> pd.DataFrame:
    """`costs.monthly_at` for people: one column per volume, the cheapest configuration of each model marked."""
    shown = monthly.assign(cost=[usd(r.usd_a_month) + (" (cheapest)" if r.cheapest else "")
                                 for r in monthly.itertuples()])
    wide = shown.pivot(index=["model", "configuration"], columns="answers_a_month", values="cost")
    wide = wide.reindex(pd.MultiIndex.from_frame(monthly[["model", "configuration"]].drop_duplicates()))
    wide.columns = [f"USD a month at {volume:,} answers" for volume in wide.columns]
    wide = wide.reset_index()
    return wide.assign(configuration=wide["configuration"].map(CONFIGURATION_NAMES))


def break_even_table(break_even: pd.DataFrame) -> pd.DataFrame:
    """`costs.break_even` for people: a saving of nothing or less never pays back."""
    return pd.DataFrame({
        "model": break_even["model"], "fine-tuned": break_even["fine-tuned"].map(CONFIGURATION_NAMES),
        "against": break_even["against"].map(CONFIGURATION_NAMES),
        "saving, USD per million answers": break_even["saving_usd_per_1000_answers"].map(lambda v: f"{1000 * v:,.2f}"),
        "fine-tuning's extra cost, USD a month": break_even["fine_tuning_usd_per_month"].map(lambda v: f"{v:,.2f}"),
        "answers a month to break even": break_even["answers_per_month_to_break_even"].map(
            lambda v: f"{v:,.0f}" if math.isfinite(v) else "never (no saving)")})


def examples(picked: pd.DataFrame, questions: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """`statistics.examples` as one heading (question, stratum, reference) and one table of answers per question."""
    texts = questions.set_index("id")
    blocks = []
    for question_id, answers in picked.groupby("question_id", sort=False):
        q = texts.loc[question_id]
        heading = f"**{q['question']}** ({q['stratum']})  \nReference: {q['reference_answer']}"
        table = answers.drop(columns=["question_id", "stratum"]).assign(
            configuration=answers["configuration"].map(CONFIGURATION_NAMES))
        blocks.append((heading, table.rename(columns=lambda c: metric_name(c) if c not in (
            "model", "configuration", "answer") else c)))
    return blocks


def against_grades_table(table: pd.DataFrame) -> pd.DataFrame:
    """`graded_set.judges_against_grades` for people."""
    return pd.DataFrame({
        "kind of question": table["kind"],
        "part of the set": table["part"].str.replace("_", " "), "judge": table["judge"].str.replace("_", " "),
        "answers": table["answers"], "Spearman": table["spearman"].round(2),
        "Krippendorff's alpha": table["alpha"].round(2), "Cohen's kappa (3 bins)": table["kappa_3_bins"].round(2),
        "mean absolute error (points)": table["mean_abs_error"].round(2), "judge's mean": table["mean_score"].round(2),
        "grades' mean": table["mean_grade"].round(2),
        "fit to score alone": table["fit_to_stand_alone"].map({True: "yes", False: "no (alpha < 0.8)"}),
        "alpha with the panel": table["alpha_with_panel"].round(2)})


def kind_caveat(against_grades: pd.DataFrame, kinds: list[str]) -> str:
    """Beside the levels per kind: on which of `kinds` the panel missed the agreement a judge needs to score alone
    against the blind grades (held-out half, section 11), with its mean beside the grades', and which kinds the
    graded set does not cover; so a level is never read without the check on its kind."""
    held = against_grades[(against_grades["part"] == "held_out") & (against_grades["judge"] == "panel")]
    held = held.set_index("kind")
    missed = [f"on *{kind}* the panel agrees at alpha {held.loc[kind, 'alpha']:.2f} and scores "
              f"{held.loc[kind, 'mean_score']:.1f} on average where the grades give {held.loc[kind, 'mean_grade']:.1f}"
              for kind in kinds if kind in held.index and not held.loc[kind, "fit_to_stand_alone"]]
    unchecked = [f"*{kind}*" for kind in kinds if kind not in held.index]
    text = ("Against the blind grades (held-out half; section 11 of 06): "
            + ("; ".join(missed) + f", below the alpha of {FIT_ALPHA} a judge needs to score alone, so that kind's "
               "levels and changes are the panel's reading, not the graders'" if missed else
               f"the panel agrees at alpha {FIT_ALPHA} or more on every kind it was checked on"))
    if unchecked:
        text += f"; not checked on {', '.join(unchecked)} (the graded set has none)"
    return text + "."


def levels_table(levels: pd.DataFrame) -> pd.DataFrame:
    """`graded_set.cell_levels` for people."""
    shown = levels.reset_index()
    return pd.DataFrame({"kind of question": shown["kind"], "model": shown["model"],
                         "configuration": shown["configuration"].map(CONFIGURATION_NAMES),
                         "answers": shown["answers"], "grades' mean (0-10)": shown["grade"].round(2),
                         "panel's mean (0-10)": shown["panel"].round(2),
                         "panel minus grades (points)": shown["panel_minus_grade"].map(lambda v: f"{v:+.2f}"),
                         f"graded {GOOD_ANSWER}+": shown["grade_share_good"].map(lambda v: f"{v:.0%}"),
                         f"scored {GOOD_ANSWER}+ by the panel": shown["panel_share_good"].map(lambda v: f"{v:.0%}")})


def tradeoff_table(trade: pd.DataFrame) -> pd.DataFrame:
    """`tradeoff.table` for people: one row per model and configuration, the unbeaten ones marked."""
    return pd.DataFrame({
        "model": trade["model"], "configuration": trade["configuration"].map(CONFIGURATION_NAMES),
        "quality, points of 10 [95% CI]": [f"{r.quality:.2f} [{r.quality_low:.2f}, {r.quality_high:.2f}]"
                                           for r in trade.itertuples()],
        f"answers scored {GOOD_ANSWER}+": trade["share_good"].map(lambda v: f"{v:.0%}"),
        "fabricates on probes": trade["fabrication_rate"].map(lambda v: f"{v:.0%}" if math.isfinite(v) else "n/a"),
        "latency median / p90 (ms)": [f"{r.latency_p50_ms:,.0f} / {r.latency_p90_ms:,.0f}" for r in trade.itertuples()],
        "USD per million answers": trade["usd_per_million_answers"].map(lambda v: f"{v:,.0f}"),
        "not beaten on every column": trade["unbeaten"].map({True: "yes", False: ""}),
    })


def winners_table(winners: pd.DataFrame) -> pd.DataFrame:
    """`tradeoff.winners_by_kind` for people: the best configuration per kind, or no clear winner naming both."""
    return pd.DataFrame({
        "model": winners["model"], "kind of question": winners["kind"], "questions": winners["questions"],
        "best": [CONFIGURATION_NAMES[r.choice] if r.clear else
                 f"no clear winner ({CONFIGURATION_NAMES[r.choice]} or {CONFIGURATION_NAMES[r.runner_up]})"
                 for r in winners.itertuples()],
        "ahead of the runner-up, points [95% CI]": [
            f"{r.margin:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] over {CONFIGURATION_NAMES[r.runner_up]}"
            if r.runner_up else "the only configuration with scored answers" for r in winners.itertuples()],
    })


def targets_summary(rows: list[dict]) -> str:
    """The judges' targets in words: how many are met on the held-out half, and each one missed with its value,
    so a reader sees beside the agreement tables which numbers rest on a judge that missed its mark."""
    missed = [r for r in rows if not r["met"]]
    text = f"On the held-out half the judges meet {len(rows) - len(missed)} of their {len(rows)} targets."
    if missed:
        said = [r["target"] if r["value"] is None or not math.isfinite(r["value"]) else  # None: NaN, once recorded
                f"{r['target']} ({r['value']:+.2f})" if "within" in r["target"] else f"{r['target']} ({r['value']:.2f})"
                for r in missed]
        text += (" Missed: " + "; ".join(said) + ". The levels and changes in points that these judges and cells "
                 "carry are the panel's, not the grades': read them with the gaps above.")
    return text


def graded_summary(ranking: dict, errors: dict) -> str:
    """The panel's order of the cells against the grades', and what its judges' correlated errors make it worth."""
    return (f"The panel orders the {ranking['cells']} (model, configuration) cells as the grades do with Kendall's tau "
            f"{ranking['kendall_tau']:.2f} (95% CI {ranking['ci_low']:.2f} to {ranking['ci_high']:.2f}). Its "
            f"{errors['judges']} judges' errors (score minus grade) correlate at {errors['mean_error_correlation']:.2f} "
            f"on average, so the panel is worth {errors['effective_votes']:.1f} independent votes.")


def details(title: str, value: object) -> str:
    """A long record (the run manifest) folded under its title, as JSON, for the reader who wants it."""
    import html
    import json

    body = html.escape(json.dumps(value, indent=1, default=str))
    return f"<details><summary>{html.escape(title)}</summary><pre>{body}</pre></details>"


AGREEMENT_NAMES = {"n_answers": "answers", "pearson": "Pearson", "spearman": "Spearman",
                   "alpha_interval": "Krippendorff's alpha (interval)", "ICC2": "ICC(2,1), absolute agreement",
                   "ICC3": "ICC(3,1), consistency"}


def agreement_table(table: pd.DataFrame) -> pd.DataFrame:
    """`agreement.agreement_table` (indexed by model and configuration) for people."""
    shown = table.reset_index().rename(columns=AGREEMENT_NAMES)
    if "configuration" in shown:
        shown["configuration"] = shown["configuration"].map(CONFIGURATION_NAMES)
    return shown


COVERAGE_NAMES = {"answers": "answers", "of_its_kind": "of a kind it scores", "scored": "scored",
                  "scored_share": "share scored"}


def coverage_table(coverage: pd.DataFrame) -> pd.DataFrame:
    """`statistics.judge_coverage` for people."""
    return coverage.assign(judge=coverage["judge"].str.replace("_", " ")).rename(columns=COVERAGE_NAMES)


def check_set_table(summary: pd.DataFrame) -> pd.DataFrame:
    """`meta_eval.summary` for people: the ordering rate, then each kind of check answer's mean score."""
    shown = summary.reset_index()
    shown["judge"] = shown["judge"].str.replace("_", " ")
    return shown.rename(columns=lambda c: "share of pairs ordered right" if c == "ordering_rate" else
                        f"mean score: {c.removeprefix('mean_').replace('_', ' ')} (0-10)" if c.startswith("mean_") else c)


def show(frame: pd.DataFrame, digits: int = 2) -> Styler:
    """A table without its positional index, numbers rounded, words left-aligned, as the rendered HTML shows it."""
    words = [column for column in frame.columns if not pd.api.types.is_numeric_dtype(frame[column])]
    return (frame.style.hide(axis="index").format(precision=digits, na_rep="")
            .set_properties(subset=words, **{"text-align": "left"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))
