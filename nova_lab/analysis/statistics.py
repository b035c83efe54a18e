"""Step 06: what each approach buys, per model, with paired intervals and tests.

Every change is a configuration against `base` on the very same questions (latency: the same
timed sample), so intervals come from a paired bootstrap (scipy) and tests from Wilcoxon's
signed-rank test, Holm-corrected over the whole table (statsmodels). The study's own figures
(FACTS.md, reported for Nova Lite) sit next to ours so that a reader sees what replicated.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from nova_lab.core import results
from nova_lab.core.vocabulary import CHANGES, CONFIGURATIONS
from nova_lab.data import data_prep, qa
from nova_lab.judging import fabrication, verdicts

CHANGED = tuple(CHANGES)  # the configurations compared with base
TOKENS = ["input_tokens", "output_tokens", "total_tokens"]
# The study's reported change against base for Nova Lite, in percent (FACTS.md)
STUDY_REPORTED = {
    ("quality", "ft"): 30, ("quality", "rag"): 30, ("quality", "ft_rag"): 83,
    ("latency_ms", "ft"): -50, ("latency_ms", "rag"): -30,
    ("total_tokens", "ft"): -60, ("total_tokens", "rag"): 100,
}


@dataclass(frozen=True)
class StudyResults:
    answers: pd.DataFrame  # one row per answer: tokens, each judge's score, `quality` (panel mean), stratum, hit
    scores: pd.DataFrame  # one row per (answer, judge)
    latency: pd.DataFrame  # one row per request timed one at a time
    judges: list[str]
    questions: pd.DataFrame | None = None  # the answerable test questions (question, reference, stratum, kind)
    probes: pd.DataFrame | None = None  # one row per answer to an unanswerable probe, with its `outcome`
    repeats: pd.DataFrame | None = None  # the other fine-tuning repeats' answers (`ft#1`, ...), with `quality`


def retrieval_hits(answers: pd.DataFrame, questions: pd.DataFrame) -> pd.Series:
    """Per question: did the RAG prompt carry a passage of the question's source document?"""
    rag = answers[answers["configuration"].map(results.uses_rag)].drop_duplicates("question_id")
    rag = rag.set_index("question_id")["retrieved_chunk_ids"]  # every RAG prompt of a question carries the same passages
    if not rag.index.is_unique:
        raise ValueError("more than one rag answer per question: read answers with results.read_answers")
    docs = rag.map(lambda ids: {chunk.rsplit("#", 1)[0] for chunk in ids})
    source = questions.set_index("id")["source_doc_id"].reindex(docs.index)
    return pd.Series([s in d for s, d in zip(source, docs)], index=docs.index, name="retrieval_hit")


def combine(answers: pd.DataFrame, scores: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """Answers with one column per judge, the panel mean as `quality`, the stratum and the retrieval hit."""
    by_judge = scores.pivot(index="key", columns="judge", values="score")  # one verdict per answer and judge
    # the panel mean needs every judge that scores the answer (a judge that does not score its kind has no row):
    # one judge's verdict alone, where another failed to parse, would stand in for the panel
    panel = scores.groupby("key")["score"].agg(lambda s: s.mean(skipna=False))
    table = answers.join(by_judge, on="key").assign(quality=panel.reindex(answers["key"]).to_numpy())
    table = table.join(questions.set_index("id")[["stratum", "fact_type", "kind"]], on="question_id")
    return table.join(retrieval_hits(answers, questions), on="question_id")


def load(run_name: str, models: list[str]) -> StudyResults:
    """Both models' answers, verdicts and latencies from a finished run of steps 01-05."""
    test = data_prep.read_test(run_name)
    questions, probe_questions = qa.answerable(test), qa.probes(test)
    answers, scores, latency, probes, repeats, judges = [], [], [], [], [], []
    for model in models:
        model_answers = results.read_answers(run_name, model, test)
        model_scores = verdicts.read_scored(run_name, model, model_answers, test)
        answered = model_answers["question_id"].isin(questions["id"])
        answers.append(combine(model_answers[answered], qa.answerable(model_scores), questions))
        probed = model_answers[~answered].join(probe_questions.set_index("id")["question"], on="question_id")
        probes.append(probed.assign(outcome=[fabrication.outcome(a, q) for a, q in zip(probed["answer"], probed["question"])])
                      .drop(columns="question"))
        scores.append(model_scores)
        latency.append(results.read_latency(run_name, model, test).assign(model=model))
        again = results.read_repeats(run_name, model)
        again = again[again["question_id"].isin(questions["id"])]
        if len(again):
            repeats.append(combine(again, verdicts.read_scored(run_name, model, again, test), questions))
        judges += [j for j in model_scores["judge"].unique() if j not in judges]
    probe_answers = pd.concat(probes, ignore_index=True).join(
        probe_questions.set_index("id")[["question", "reference_answer", "fact_type"]], on="question_id")
    return StudyResults(pd.concat(answers, ignore_index=True), pd.concat(scores, ignore_index=True),
                        pd.concat(latency, ignore_index=True), judges, questions, probe_answers,
                        pd.concat(repeats, ignore_index=True) if repeats else None)


def _relative_change(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.mean(x, axis=axis) / np.mean(y, axis=axis) - 1) * 100


def paired_interval(statistic, x: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """The 95% paired percentile bootstrap interval of statistic(x, y, axis) on the same questions (scipy). A relative
    change whose base is 0 in some resamples has no upper bound: the interval's high end is then inf, which is the
    honest answer (scipy's standard error of those resamples is undefined, hence the silenced warning). Where every
    resample gives the same value (a judge that scores two questions alike in both configurations), the interval is
    that value, which is what scipy returns; its warning about it is silenced too."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        interval = stats.bootstrap((x, y), statistic, paired=True, vectorized=True, n_resamples=resamples,
                                   method="percentile", rng=np.random.default_rng(seed)).confidence_interval
    return float(interval.low), float(interval.high)


def paired_change(x: np.ndarray, base: np.ndarray, resamples: int, seed: int) -> dict[str, float]:
    """Mean of x against mean of base in the metric's own unit (points, ms, tokens) and in percent, each with its
    95% paired bootstrap interval, and Wilcoxon's p. The difference is what a reader can use when base is near
    zero, where a percentage is as large as it is meaningless."""
    change, difference = float(_relative_change(x, base)), float(np.mean(x) - np.mean(base))
    if len(x) < 2:
        return {"change": difference, "change_low": np.nan, "change_high": np.nan,
                "change_pct": change, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    d_low, d_high = paired_interval(mean_difference, x, base, resamples, seed)
    low, high = paired_interval(_relative_change, x, base, resamples, seed) if np.isfinite(change) else (np.nan, np.nan)
    p = 1.0 if np.allclose(x, base) else float(stats.wilcoxon(x, base).pvalue)
    return {"change": difference, "change_low": d_low, "change_high": d_high,
            "change_pct": change, "ci_low": low, "ci_high": high, "p": p}


def _paired(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """question x configuration table of one metric, questions with every configuration only."""
    return frame.pivot_table(index="question_id", columns="configuration", values=metric).dropna()


def changes(res: StudyResults, metrics: list[str], resamples: int, seed: int, by: list[str] = ()) -> pd.DataFrame:
    """Every configuration against base for each metric, model (and `by` group), Holm-corrected."""
    rows = []
    for metric in metrics:
        source = res.latency if metric == "latency_ms" else res.answers
        for group, part in source.groupby(["model", *by], sort=False):
            wide = _paired(part, metric)
            for configuration in [c for c in CHANGED if c in wide.columns and "base" in wide.columns]:
                rows.append(dict(zip(["model", *by], group), metric=metric, configuration=configuration,
                                 n=len(wide), base=wide["base"].mean(), value=wide[configuration].mean(),
                                 **paired_change(wide[configuration].to_numpy(), wide["base"].to_numpy(), resamples, seed),
                                 study_lite_pct=STUDY_REPORTED.get((metric, configuration), np.nan)))
    table = pd.DataFrame(rows)
    tested = table["p"].notna()
    table["p_holm"] = np.nan
    if tested.any():
        table.loc[tested, "p_holm"] = multipletests(table.loc[tested, "p"], method="holm")[1]
    return table


def additivity(res: StudyResults, resamples: int, seed: int) -> pd.DataFrame:
    """Per model: is ft_rag - base larger than (ft - base) + (rag - base)? The per-question interaction."""
    rows = []
    for model, part in res.answers.groupby("model", sort=False):
        wide = _paired(part, "quality")
        if set(CONFIGURATIONS) - set(wide.columns) or len(wide) < 2:
            continue  # a model without all four configurations on two questions or more has no interaction
        interaction = (wide["ft_rag"] - wide["ft"] - wide["rag"] + wide["base"]).to_numpy()
        interval = stats.bootstrap((interaction,), np.mean, n_resamples=resamples, method="percentile",
                                   rng=np.random.default_rng(seed)).confidence_interval
        p = 1.0 if np.allclose(interaction, 0) else float(stats.wilcoxon(interaction).pvalue)
        rows.append({"model": model, "n": len(wide), "both_minus_base": (wide["ft_rag"] - wide["base"]).mean(),
                     "sum_of_single_gains": (wide["ft"] - wide["base"] + wide["rag"] - wide["base"]).mean(),
                     "interaction": interaction.mean(), "ci_low": interval.low, "ci_high": interval.high, "p": p})
    return pd.DataFrame(rows, columns=["model", "n", "both_minus_base", "sum_of_single_gains", "interaction",
                                       "ci_low", "ci_high", "p"])


def study_table(res: StudyResults) -> pd.DataFrame:
    """Per model and configuration: quality (panel and judges), latency (mean, p50, p90) and tokens."""
    quality = res.answers.groupby(["model", "configuration"], sort=False)[["quality", *res.judges, *TOKENS]].mean()
    latency = res.latency.groupby(["model", "configuration"], sort=False)["latency_ms"].agg(
        latency_mean_ms="mean", latency_p50_ms="median", latency_p90_ms=lambda s: s.quantile(0.9))
    table = quality.join(latency)
    return table.reindex(pd.MultiIndex.from_product([table.index.unique("model"), CONFIGURATIONS]))


def quality_by(res: StudyResults, column: str) -> pd.DataFrame:
    """Mean quality per model, `column` value and configuration, with the number of questions."""
    table = res.answers.pivot_table(index=["model", column], columns="configuration", values="quality", aggfunc="mean")
    counts = res.answers[res.answers["configuration"] == "base"].groupby(["model", column]).size().rename("questions")
    return table[list(CONFIGURATIONS)].join(counts)


def examples(res: StudyResults, per_stratum: int = 3) -> pd.DataFrame:
    """The questions on which the answers differ most in quality (the spread of the panel's score over every model's
    four answers), `per_stratum` of each stratum, ties broken by question id: each answer with each judge's score."""
    spread = res.answers.groupby("question_id")["quality"].agg(lambda s: s.max() - s.min())
    strata = res.questions.set_index("id")["stratum"].reindex(spread.index)
    chosen = [question for stratum in sorted(strata.dropna().unique())
              for question in spread[strata == stratum].sort_index().sort_values(ascending=False, kind="stable")
              .index[:per_stratum]]
    picked = res.answers[res.answers["question_id"].isin(chosen)]
    picked = picked.assign(order=picked["question_id"].map({q: n for n, q in enumerate(chosen)}),
                           configuration_order=picked["configuration"].map(CONFIGURATIONS.index))
    return picked.sort_values(["order", "model", "configuration_order"])[
        ["question_id", "stratum", "model", "configuration", "answer", *res.judges, "quality"]].reset_index(drop=True)


def judge_coverage(res: StudyResults) -> pd.DataFrame:
    """Per model and judge, of the answers to answerable questions: how many are of a kind the judge scores (the
    fact check only those whose question carries key facts; an LLM judge all) and how many it scored (a verdict
    that could not be read is no score). Every mean of a judge in 06 is over its `scored` answers only."""
    answers = res.answers.groupby("model").size().rename("answers")
    asked = res.scores[res.scores["answer_key"].isin(res.answers["key"])]
    counted = asked.groupby(["model", "judge"])["score"].agg(of_its_kind="size", scored="count").reset_index()
    table = counted.join(answers, on="model")
    table["scored_share"] = table["scored"] / table["answers"]
    return table[["model", "judge", "answers", "of_its_kind", "scored", "scored_share"]]


def fabrication_rates(res: StudyResults) -> pd.DataFrame:
    """Per model and configuration, on the unanswerable probes: the share of answers that fabricate (Wilson 95%
    interval), decline, or are empty."""
    rows = []
    for (model, configuration), part in res.probes.groupby(["model", "configuration"], sort=False):
        made_up = int((part["outcome"] == fabrication.FABRICATES).sum())
        low, high = proportion_confint(made_up, len(part), alpha=0.05, method="wilson")
        rows.append({"model": model, "configuration": configuration, "probes": len(part),
                     "fabrication_rate": made_up / len(part), "ci_low": low, "ci_high": high,
                     "decline_rate": (part["outcome"] == fabrication.DECLINES).mean(),
                     "empty_rate": (part["outcome"] == fabrication.EMPTY).mean()})
    return pd.DataFrame(rows, columns=["model", "configuration", "probes", "fabrication_rate", "ci_low", "ci_high",
                                       "decline_rate", "empty_rate"])  # no rows with n_probes: 0


def mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of x minus mean of y: the statistic of a paired change in points (or shares)."""
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def fabrication_changes(res: StudyResults, resamples: int, seed: int) -> pd.DataFrame:
    """Per model, each configuration's fabrication rate against base's on the same probes: the difference in
    percentage points, its 95% paired bootstrap interval, and McNemar's exact p."""
    rows = []
    made_up = res.probes.assign(fabricated=(res.probes["outcome"] == fabrication.FABRICATES).astype(float))
    for model, part in made_up.groupby("model", sort=False):
        wide = _paired(part, "fabricated")
        for configuration in [c for c in CHANGED if c in wide.columns and "base" in wide.columns]:
            x, base = wide[configuration].to_numpy(), wide["base"].to_numpy()
            low, high = paired_interval(mean_difference, x, base, resamples, seed) if len(x) > 1 else (np.nan, np.nan)
            table = pd.crosstab(base.astype(bool), x.astype(bool)).reindex(index=[False, True], columns=[False, True],
                                                                          fill_value=0)
            rows.append({"model": model, "configuration": configuration, "n": len(wide), "base": base.mean(),
                         "value": x.mean(), "change_points": 100 * float(mean_difference(x, base)), "ci_low": 100 * low,
                         "ci_high": 100 * high, "p": float(mcnemar(table.to_numpy(), exact=True).pvalue)})
    return pd.DataFrame(rows, columns=["model", "configuration", "n", "base", "value", "change_points", "ci_low",
                                       "ci_high", "p"])


def probe_examples(res: StudyResults, n: int = 3) -> pd.DataFrame:
    """The first `n` probes by question id, every model's and configuration's answer with its outcome: what the
    rules saw."""
    chosen = sorted(res.probes["question_id"].unique())[:n]
    picked = res.probes[res.probes["question_id"].isin(chosen)].assign(
        configuration_order=lambda f: f["configuration"].map(CONFIGURATIONS.index))
    picked = picked.sort_values(["question_id", "model", "configuration_order"])
    return picked[["question", "model", "configuration", "answer", "outcome"]].reset_index(drop=True)


def seed_spread(res: StudyResults, resamples: int, seed: int) -> pd.DataFrame:
    """Per model and fine-tuned configuration, over the adapters trained with different seeds: each repeat's mean
    quality and change against base (points), their spread (max - min), and beside it the width of the 95%
    question-sampling interval of the study adapter's change, so a reader sees which noise is bigger."""
    if res.repeats is None or not len(res.repeats):
        return pd.DataFrame()
    rows = []
    both = pd.concat([res.answers, res.repeats], ignore_index=True)
    for model, part in both.groupby("model", sort=False):
        wide = _paired(part, "quality")
        for configuration in [c for c in CONFIGURATIONS if results.uses_adapter(c)]:
            labels = [c for c in wide.columns if results.repeated(c)[0] == configuration]
            changes = (wide[labels].sub(wide["base"], axis=0)).mean()
            low, high = paired_interval(mean_difference, wide[configuration].to_numpy(), wide["base"].to_numpy(),
                                        resamples, seed)
            rows.append({"model": model, "configuration": configuration, "repeats": len(labels), "questions": len(wide),
                         "quality_by_repeat": [round(float(wide[c].mean()), 3) for c in labels],
                         "change_by_repeat": [round(float(v), 3) for v in changes],
                         "seed_spread": float(changes.max() - changes.min()),
                         "question_interval_width": high - low})
    return pd.DataFrame(rows)


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
                         "base": row.base, "change": row.value - row.base,
                         "p_holm": row.p_holm, "verdict": verdict(row.ci_low, row.ci_high, row.p_holm, row.n, reported)})
    return pd.DataFrame(rows)
