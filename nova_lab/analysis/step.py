"""Step 06 in one call: `run(cfg)` computes everything the analysis notebook shows, `record` keeps what other
code reads back from the executed notebook (the key figures, the README's findings), under names defined here."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from nova_lab.analysis import bottom_line, real_nova, run_manifest, statistics, tradeoff
from nova_lab.analysis.statistics import StudyResults
from nova_lab.core import artefacts
from nova_lab.core.caching import read_manifest
from nova_lab.core.notebook_utils import record as record_figure
from nova_lab.core.params import AnalysisParams, StudyParams
from nova_lab.core.vocabulary import HEADLINE_METRICS
from nova_lab.costing import costs
from nova_lab.costing.plan import text_tokens
from nova_lab.data import data_prep
from nova_lab.judging import agreement, graded_set, meta_eval
from nova_lab.tuning.precision import cpu_kind

HEADLINE = list(HEADLINE_METRICS)  # quality, latency, tokens: the rest of `changes` is the judges'


@dataclass
class Analysis:
    """What step 06 found for one run, as tables the report module turns into what a reader sees."""

    cfg: AnalysisParams
    res: StudyResults
    table: pd.DataFrame  # per (model, configuration): means of every metric
    changes: pd.DataFrame  # each configuration against base, paired, every metric
    additivity: pd.DataFrame
    by_stratum: pd.DataFrame
    by_kind: pd.DataFrame
    kind_levels: pd.DataFrame
    fabrication_rates: pd.DataFrame
    fabrication_changes: pd.DataFrame
    kind_winners: pd.DataFrame
    answer_costs: pd.DataFrame
    owning: StudyParams  # the run's params, whose Bedrock settings price it
    owned: pd.DataFrame
    trade: pd.DataFrame
    spread: pd.DataFrame  # fine-tuning repeats: empty with one adapter per model
    graded: pd.DataFrame
    graded_source: str  # whose grades: the package's set or your reviewers'
    graded_scores: pd.DataFrame
    against_grades: pd.DataFrame
    ranking: dict[str, float]
    graded_targets: list[dict]
    error_correlation: dict[str, float]
    cell_levels: pd.DataFrame
    checks: pd.DataFrame
    check_summary: pd.DataFrame
    judge_agreement: pd.DataFrame
    judge_coverage: pd.DataFrame
    manifest: dict
    replication: pd.DataFrame  # each change the study reported beside this run's
    by_stratum_levels: pd.DataFrame
    by_retrieval: pd.DataFrame
    monthly: pd.DataFrame
    break_even: pd.DataFrame
    prices: pd.DataFrame
    examples: pd.DataFrame
    probe_examples: pd.DataFrame
    limits: list[str] = field(default_factory=list)  # what would change on real Nova, with this run's numbers
    said: list[str] = field(default_factory=list)  # the bottom line

    @property
    def headline(self) -> pd.Series:
        """The rows of `changes` on the headline metrics (quality, latency, tokens); the others are the judges'."""
        return self.changes["metric"].isin(HEADLINE)


def run(cfg: AnalysisParams) -> Analysis:
    """Every table of step 06, read from the stores steps 04 and 05 wrote for `cfg.models`."""
    seed, resamples = cfg.seed, cfg.bootstrap_resamples
    res = statistics.load(cfg.run_name, cfg.models)
    answer_costs = costs.per_answer(res.answers)
    fabrication_rates = statistics.fabrication_rates(res)
    tuning_costs = costs.fine_tuning({m: read_manifest(artefacts.adapter_dir(cfg.run_name, m)) for m in cfg.models})
    owning = costs.owning_params(cfg.run_name)
    owned = costs.ownership(owning, answer_costs, tuning_costs, res.questions["question"].map(text_tokens).mean())
    per_answer_usd = 1000 * owned.set_index(["model", "configuration"])["usd_per_1000_answers"]
    graded_file = graded_set.source(cfg.grades)
    graded = graded_set.read(graded_file)
    graded_scores = graded_set.read_scores(graded, [*res.judges, *graded_set.second_opinions(cfg)],
                                           graded_set.store(cfg.run_name))
    checks = meta_eval.read_all(cfg.run_name, cfg.models)
    changes = statistics.changes(res, ["quality", *res.judges, "latency_ms", *statistics.TOKENS], resamples, seed)
    found = Analysis(
        cfg=cfg, res=res, table=statistics.study_table(res),
        changes=changes,
        additivity=statistics.additivity(res, resamples, seed),
        by_stratum=statistics.changes(res, ["quality"], resamples, seed, by=["stratum"]),
        by_kind=statistics.changes(res, ["quality"], resamples, seed, by=["kind"]),
        kind_levels=statistics.quality_by(res, "kind"),
        fabrication_rates=fabrication_rates,
        fabrication_changes=statistics.fabrication_changes(res, resamples, seed),
        kind_winners=tradeoff.winners_by_kind(res, resamples, seed),
        answer_costs=answer_costs, owning=owning, owned=owned,
        trade=tradeoff.table(res, fabrication_rates, per_answer_usd, resamples, seed),
        spread=statistics.seed_spread(res, resamples, seed),
        graded=graded, graded_scores=graded_scores, graded_source=graded_set.describe(graded_file, graded),
        against_grades=graded_set.judges_against_grades(graded, graded_scores),
        ranking=graded_set.cell_ranking(graded, graded_scores, resamples, seed),
        graded_targets=graded_set.targets(graded, graded_scores),
        error_correlation=graded_set.error_correlation(graded, graded_scores),
        cell_levels=graded_set.cell_levels(graded, graded_scores),
        checks=checks, check_summary=meta_eval.summary(checks, meta_eval.ordering_rates(checks)),
        judge_agreement=agreement.agreement_table(res.scores, by=["model", "configuration"]),
        judge_coverage=statistics.judge_coverage(res),
        manifest=run_manifest.collect(cfg.run_name, cfg.models),
        replication=statistics.replication(changes),
        by_stratum_levels=statistics.quality_by(res, "stratum"),
        by_retrieval=statistics.quality_by(res, "retrieval_hit"),
        monthly=costs.monthly_at(owned), break_even=costs.break_even(owned),
        prices=costs.prices_used(cfg.models, owning),
        examples=statistics.examples(res), probe_examples=statistics.probe_examples(res),
    )
    on_bedrock = cfg.backend == "bedrock"
    source = data_prep.source_of(cfg.run_name)
    found.limits = real_nova.lines(res, found.by_stratum, on_bedrock, source)
    next_step = bottom_line.next_step(on_bedrock, source, cfg.run_name)
    found.said = bottom_line.lines(found.trade, found.kind_winners, fabrication_rates, found.manifest["models"],
                                   res.judges, on_bedrock, cpu_kind(), next_step, source.own)
    return found


RECORDED = {  # name in the executed notebook -> the records it holds; key_figures and findings read these names
    "study_table": lambda a: a.table.reset_index(names=["model", "configuration"]).to_dict("records"),
    "changes": lambda a: a.changes.to_dict("records"),
    "additivity": lambda a: a.additivity.to_dict("records"),
    "tradeoff": lambda a: a.trade.to_dict("records"),
    "bottom_line": lambda a: a.said,
    "kind_winners": lambda a: a.kind_winners.to_dict("records"),
    "costs": lambda a: a.answer_costs.to_dict("records"),
    "ownership": lambda a: a.owned.to_dict("records"),
    "graded_agreement": lambda a: a.against_grades.to_dict("records"),
    "graded_targets": lambda a: a.graded_targets,
    "fabrication": lambda a: a.fabrication_rates.to_dict("records"),
    "quality_by_kind": lambda a: a.by_kind.to_dict("records"),
    "seed_spread": lambda a: a.spread.to_dict("records"),
}


def record(found: Analysis) -> None:
    """Record every figure other code reads back from the executed notebook (in a notebook's kernel)."""
    for name, value in RECORDED.items():
        record_figure(name, value(found))
