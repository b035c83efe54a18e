"""The judges checked against blind grades of real answers.

The check set of step 05 is built from the same key facts the offline judges look for, so it
cannot fail the way that matters: does a judge score real answers as a careful grader would?
Here real answers of a full default run, stratified over model, configuration and stratum, are
graded 0-10 against the reference by two graders who read question, reference and answer only
(never the model, the configuration or a judge's score); a difference of more than
`SETTLE_GAP` points is settled by a third reading. The set is committed with the package
(`nova_lab/judging/graded/`, whose README says who graded it, how and when). Step 05 scores it with the
panel it runs (offline or on Bedrock, so both panels meet one yardstick) and 06 reports how far
each judge, and the panel, agree with the grades. Half of the set is held out: a change to a
judge may be checked on the other half only, and both halves are always reported.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa

from nova_lab.core import paths
from nova_lab.core.caching import fingerprint
from nova_lab.core.params import CommonParams, ParamsError
from nova_lab.core.records import RecordStore
from nova_lab.core.results import graded_judgments_path
from nova_lab.core.study_steps import StepNotRun
from nova_lab.data.nova_format import json_lines
from nova_lab.data.qa import UNANSWERABLE
from nova_lab.judging.agreement import krippendorff_alpha_interval
from nova_lab.judging.judges import GOOD_ANSWER, JUDGES, Item, Judge, is_second_opinion, second_opinion_name
from nova_lab.judging.verdicts import JUDGMENT_COLUMNS, judge_all, stored_scores, verdict_key

GRADED_DIR = Path(__file__).parent / "graded"
GRADED_FILE = GRADED_DIR / "graded_set.jsonl"
SETTLE_GAP = 3  # points between the two readings beyond which a third reading settles the grade
FIT_ALPHA = 0.8  # below this alpha against the grades, a judge is not fit to score alone
BINS = {"wrong (0-3)": (0, 3.5), "partial (4-6)": (3.5, 6.5), "right (7-10)": (6.5, 10.01)}
PARTS = ("development", "held_out")
GRADED_COLUMNS = ("item", "part", "question", "reference", "key_facts", "answer", "answer_key", "model",
                  "configuration", "stratum", "kind", "grade")
CELL = ["model", "configuration"]


def draw(answers: pd.DataFrame, questions: pd.DataFrame, per_cell: int, seed: int,
         by: str = "stratum", kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
    """`per_cell` answers of each (model, configuration, `by`) cell (`by`: "stratum" or "kind"; `kinds`: only these
    question kinds), each cell drawn by its own seed (so one model's answers can be drawn and graded before the
    other's exist), split in two halves per cell: `development` (may be read when a judge is changed) and
    `held_out` (never). Items are named by a hash of their answer, so a sheet in item order is shuffled."""
    joined = answers.merge(questions[["id", "question", "reference_answer", "key_facts", "stratum", "kind"]],
                           left_on="question_id", right_on="id", validate="many_to_one")
    if kinds is not None:
        joined = joined[joined["kind"].isin(kinds)]
    picked = []
    for cell_name, cell in joined.groupby([*CELL, by], sort=True):
        cell_seed = int(fingerprint(seed, *cell_name)[:8], 16)
        chosen = cell.sample(min(per_cell, len(cell)), random_state=cell_seed)
        halves = np.random.default_rng(cell_seed).permutation([PARTS[i % 2] for i in range(len(chosen))])
        picked.append(chosen.assign(part=halves))
    drawn = pd.concat(picked)
    drawn = drawn.assign(item=["g" + fingerprint(key)[:8] for key in drawn["key"]]).sort_values("item")
    return pd.DataFrame({
        "item": drawn["item"], "part": drawn["part"], "question": drawn["question"],
        "reference": drawn["reference_answer"], "key_facts": drawn["key_facts"].map(list), "answer": drawn["answer"],
        "answer_key": drawn["key"], "model": drawn["model"], "configuration": drawn["configuration"],
        "stratum": drawn["stratum"], "kind": drawn["kind"]}).reset_index(drop=True)


def blind(drawn: pd.DataFrame) -> pd.DataFrame:
    """What a grader sees: the item number, question, reference and answer, nothing that names its origin."""
    return drawn[["item", "question", "reference", "answer"]]


def settle(first: float, second: float, third: float | None) -> float:
    """The grade: the two readings' mean, or, when they are more than SETTLE_GAP apart, the median of three."""
    if abs(first - second) <= SETTLE_GAP:
        return (first + second) / 2
    if third is None or pd.isna(third):
        raise ValueError(f"readings {first} and {second} differ by more than {SETTLE_GAP}: a third reading is needed")
    return float(np.median([first, second, third]))


class GradedSetError(ParamsError):
    """A graded set the study cannot read: the message names the file, the line and what is allowed."""


def source(grades: str | None) -> Path:
    """The graded set a run reads: your reviewers' (`grades`), or the package's."""
    return paths.PROJ_ROOT / grades if grades else GRADED_FILE


def read(path: Path = GRADED_FILE) -> pd.DataFrame:
    """A graded set, one row per answer, checked: its columns, each grade in 0-10 and each part one of PARTS."""
    if not path.is_file():
        where = f"it is committed with the package; see {GRADED_DIR / 'README.md'}" if path == GRADED_FILE else \
            f"make it with `python -m {__name__} sheet` and `add --set {path}`"
        raise GradedSetError(f"grades: {path} is not there ({where})")
    rows = []
    for line, text in enumerate(json_lines(path.read_text(encoding="utf-8")), 1):
        if not text.strip():
            continue
        try:
            rows.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise GradedSetError(f"{path} line {line}: not JSON ({exc.msg})") from None
    graded = pd.DataFrame(rows)
    missing = [column for column in GRADED_COLUMNS if column not in graded.columns]
    if missing:
        raise GradedSetError(f"{path}: no {missing} field(s); a graded answer needs {list(GRADED_COLUMNS)}")
    empty = graded[list(GRADED_COLUMNS)].isna()
    if empty.any(axis=None):
        line = int(empty.any(axis=1).to_numpy().argmax())
        raise GradedSetError(f"{path} line {line + 1}: no {list(empty.columns[empty.iloc[line]])} value(s); a graded "
                             f"answer needs {list(GRADED_COLUMNS)}")
    grades = pd.to_numeric(graded["grade"], errors="coerce")
    for line, (grade, value, part) in enumerate(zip(grades, graded["grade"], graded["part"]), 1):
        if not 0 <= grade <= 10:
            raise GradedSetError(f"{path} line {line}: grade {value!r} is not a number from 0 to 10")
        if part not in PARTS:
            raise GradedSetError(f"{path} line {line}: part {part!r} is not one of {list(PARTS)}")
    return graded.assign(grade=grades)


def describe(path: Path, graded: pd.DataFrame) -> str:
    """Whose grades a run's section on the graded set reads, in a sentence for 05 and 06."""
    if path == GRADED_FILE:
        return (f"The package's graded set: {len(graded)} real answers of a full default run of the built-in AWS study, "
                "graded 0-10 against the reference by two graders blind to model, configuration and judge: AI assistants "
                "(language-model sessions started for the task alone), not people (`nova_lab/judging/graded/README.md` "
                "says who, how and when). On a study of your own documents it checks the judges on AWS answers, not "
                "on yours: `grades:` names a set your reviewers graded.")
    return (f"Your graded set, `{paths.shareable(path)}`: {len(graded)} answers of run(s) "
            f"{', '.join(map(str, sorted(graded['run'].dropna().unique()))) if 'run' in graded else 'not named'}, "
            "graded by your reviewers (its `grade_a`, `grade_b` and `grade_c` fields hold each reading).")


def items(graded: pd.DataFrame) -> list[Item]:
    return [Item(f"graded/{r.item}/{fingerprint(r.answer_key, r.answer)[:12]}", r.question, r.reference,
                 tuple(r.key_facts), r.answer, unanswerable=r.kind == UNANSWERABLE) for r in graded.itertuples()]


def score(graded: pd.DataFrame, judges: list[Judge], store: RecordStore) -> pd.DataFrame:
    """Every judge's score of every graded answer (long: item, judge, score); verdicts kept in `store`, so the
    set is judged once per run, whichever model's step 05 comes first."""
    judge_all(judges, items(graded), store)
    return read_scores(graded, [judge.name for judge in judges], store)


def read_scores(graded: pd.DataFrame, judge_names: list[str], store: RecordStore) -> pd.DataFrame:
    """The scores step 05 gave the graded set, by judge name; a judge that has not scored it is an error."""
    graded_items = items(graded)
    kept = store.keys()
    missing = [name for name in judge_names if not _has_scored(name, graded_items, kept)]
    if missing:
        raise StepNotRun(f"judge(s) {missing} have not scored the graded set in {store.path}: run step 05")
    return pd.concat([pd.DataFrame({"item": graded["item"], "judge": name, "score": scores})
                      for name, scores in stored_scores(store, judge_names, graded_items).items()], ignore_index=True)


def _has_scored(judge_name: str, graded_items: list[Item], kept: set[str]) -> bool:
    """Whether the judge has a verdict on every item it scores (an offline judge scores some kinds only; an LLM
    judge, not in the registry, scores all)."""
    scores = JUDGES[judge_name]().scores if judge_name in JUDGES else (lambda item: True)
    return all(verdict_key(judge_name, item) in kept for item in graded_items if scores(item))


def second_opinions(cfg: CommonParams) -> list[str]:
    """The judges of the graded set that are not on the panel: Bedrock Evaluations, when `bedrock.evaluation_model`
    names its evaluator on a Bedrock run."""
    evaluator = cfg.bedrock.evaluation_model if cfg.backend == "bedrock" and cfg.bedrock else None
    return [second_opinion_name(evaluator)] if evaluator else []


def store(run_name: str) -> RecordStore:
    return RecordStore(graded_judgments_path(run_name), JUDGMENT_COLUMNS)


def _wide(graded: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """One row per graded answer: its grade, each judge's score and the panel's: the mean of the judges that score
    the answer's kind, NaN when one of them has no verdict (an unreadable LLM reply), as 06's `quality` is."""
    wide = scores.pivot(index="item", columns="judge", values="score")
    members = wide[[judge for judge in wide.columns if not is_second_opinion(judge)]]  # a second opinion is apart
    if "kind" in graded and "question" in graded:  # which judges score each answer (an LLM judge scores all)
        asked = dict(zip(graded["item"], items(graded)))
        judges = {judge: JUDGES[judge]() for judge in members.columns if judge in JUDGES}
        scoring = pd.DataFrame({judge: [judges[judge].scores(asked[i]) if judge in judges else True
                                        for i in wide.index] for judge in members.columns}, index=wide.index)
        wide["panel"] = members.where(scoring).mean(axis=1).where(~(scoring & members.isna()).any(axis=1))
    else:  # without the answers' text nothing says which judges score what: the judges that have a score
        wide["panel"] = members.mean(axis=1)
    return graded.set_index("item")[["part", *CELL, "stratum", "kind", "grade"]].join(wide)


def _kappa(grades: pd.Series, scores: pd.Series) -> float:
    edges = [low for low, _ in BINS.values()] + [10.01]
    to_bin = lambda values: pd.cut(values, edges, right=False, labels=False)  # noqa: E731
    table = pd.crosstab(to_bin(grades), to_bin(scores)).reindex(index=range(3), columns=range(3), fill_value=0)
    return float(cohens_kappa(table.to_numpy()).kappa)


EVERY_KIND = "every kind"


def judges_against_grades(graded: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per question kind (and every kind together), per part of the set (and both together) and per judge (and the
    panel) that scores that kind: Spearman's rho, Krippendorff's interval alpha of judge and grade, Cohen's kappa
    on three bins, mean absolute error, whether the judge is fit to score alone (alpha at least FIT_ALPHA), and its
    alpha with the panel's score (a panel member is part of that mean; a second opinion is not). A judge is checked
    on the kinds it scores: its agreement on every kind together would hide a kind it fails."""
    wide = _wide(graded, scores)
    judges = [c for c in wide.columns if c not in {"part", *CELL, "stratum", "kind", "grade"}]
    rows = []
    kinds = [*wide.groupby("kind", sort=False), (EVERY_KIND, wide)]
    for kind, part, rows_of in [(k, p, r) for k, of_kind in kinds
                                for p, r in [*of_kind.groupby("part"), ("whole set", of_kind)]]:
        for judge in judges:
            pair = rows_of[["grade", judge]].dropna()
            if len(pair) < 2:
                continue  # the judge does not score this kind
            varies = pair["grade"].nunique() > 1 and pair[judge].nunique() > 1  # else a correlation is undefined
            alpha = krippendorff_alpha_interval(pair)
            rows.append({"kind": kind, "part": part, "judge": judge, "answers": len(pair),
                         "spearman": stats.spearmanr(pair["grade"], pair[judge]).statistic if varies else np.nan,
                         "alpha": alpha, "kappa_3_bins": _kappa(pair["grade"], pair[judge]) if varies else np.nan,
                         "mean_abs_error": (pair[judge] - pair["grade"]).abs().mean(),
                         "mean_score": pair[judge].mean(), "mean_grade": pair["grade"].mean(),
                         "fit_to_stand_alone": bool(alpha >= FIT_ALPHA),
                         "alpha_with_panel": krippendorff_alpha_interval(rows_of[["panel", judge]].dropna())
                         if judge != "panel" else np.nan})
    return pd.DataFrame(rows)


def cell_levels(graded: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per question kind and (model, configuration): the grades' mean and the panel's, and how far apart they are.
    A change against base in percent is only as good as the base's level, so the level matters, not only the
    order; per kind, because a judge can sit above the grades on one kind and not on another."""
    wide = _wide(graded, scores)
    by = ["kind", *CELL]
    table = wide.groupby(by, sort=False)[["grade", "panel"]].mean()
    good = wide[["grade", "panel"]].ge(GOOD_ANSWER).groupby([wide[c] for c in by], sort=False).mean()
    return table.assign(panel_minus_grade=table["panel"] - table["grade"], answers=wide.groupby(by, sort=False).size(),
                        grade_share_good=good["grade"], panel_share_good=good["panel"])


TARGETS = {"judge_alpha": FIT_ALPHA, "panel_alpha": 0.85, "cell_gap": 0.5}  # issue 25's, on the held-out half


def targets(graded: pd.DataFrame, scores: pd.DataFrame) -> list[dict]:
    """The targets the judges are held to (TARGETS), each met or not, on the held-out half (never read to change a
    judge): every judge at alpha >= TARGETS["judge_alpha"] on each kind it scores, and a judge the set cannot check
    (no graded answer of a kind it scores) named as missed; the panel at >= TARGETS["panel_alpha"] on every kind
    together; each (model, configuration) cell's panel mean within TARGETS["cell_gap"] points of the grades'."""
    against = judges_against_grades(graded, scores)
    held = against[against["part"] == "held_out"]
    rows = [{"target": f"{r.judge} on {r.kind}: alpha >= {TARGETS['judge_alpha']}" + _uncheckable(r), "value": r.alpha,
             "met": bool(r.alpha >= TARGETS["judge_alpha"])}
            for r in held[(held["kind"] != EVERY_KIND) & (held["judge"] != "panel")].itertuples()]
    rows += [{"target": f"{judge}: checked against grades on no kind it scores (the set has none of them)",
              "value": float("nan"), "met": False}
             for judge in sorted(set(scores["judge"]) - set(held["judge"]))]
    panel = held[(held["kind"] == EVERY_KIND) & (held["judge"] == "panel")]["alpha"]
    rows.append({"target": f"panel on every kind: alpha >= {TARGETS['panel_alpha']}",
                 "value": float(panel.iloc[0]) if len(panel) else float("nan"),
                 "met": bool(len(panel) and panel.iloc[0] >= TARGETS["panel_alpha"])})
    wide = _wide(graded, scores)
    cells = wide[wide["part"] == "held_out"].groupby(CELL)[["grade", "panel"]].mean()
    rows += [{"target": f"{model} {configuration}: panel mean within {TARGETS['cell_gap']} of the grades'",
              "value": gap, "met": bool(abs(gap) <= TARGETS["cell_gap"])}
             for (model, configuration), gap in (cells["panel"] - cells["grade"]).items()]
    return rows


def _uncheckable(row) -> str:
    """Why a judge's alpha on a kind is undefined: its grades and scores do not vary (every probe answer a
    fabrication, graded 0 and scored 0, leaves a decline rule unchecked however well it agrees)."""
    if not np.isnan(row.alpha):
        return ""
    if row.mean_abs_error == 0:
        return (f" (not checkable here: all {row.answers} held-out answers have the same grade and score, "
                f"{row.mean_grade:g})")
    return " (alpha undefined)"


def cell_ranking(graded: pd.DataFrame, scores: pd.DataFrame, resamples: int, seed: int) -> dict[str, float]:
    """Kendall's tau between the panel's and the grades' order of the (model, configuration) cells, with a 95%
    interval from resampling the answers within each cell."""
    wide = _wide(graded, scores).dropna(subset=["panel"])
    point = _tau(wide)
    rng = np.random.default_rng(seed)
    cells = [cell[["grade", "panel"]].to_numpy() for _, cell in wide.groupby(CELL)]
    # every resample's rows in one frame and one groupby (the draws in the order a loop would make them)
    picks = [c[rng.integers(0, len(c), len(c))] for _ in range(resamples) for c in cells]
    drawn = pd.DataFrame(np.concatenate(picks), columns=["grade", "panel"]).assign(
        draw=np.repeat(np.arange(len(picks)) // len(cells), [len(p) for p in picks]),
        cell=np.repeat(np.arange(len(picks)) % len(cells), [len(p) for p in picks]))
    means = drawn.groupby(["draw", "cell"])[["grade", "panel"]].mean()
    draws = [float(stats.kendalltau(m["grade"], m["panel"]).statistic) for _, m in means.groupby(level="draw")]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return {"cells": len(cells), "kendall_tau": point, "ci_low": float(low), "ci_high": float(high)}


def _tau(wide: pd.DataFrame) -> float:
    means = wide.groupby(CELL)[["grade", "panel"]].mean()
    return float(stats.kendalltau(means["grade"], means["panel"]).statistic)


def error_correlation(graded: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
    """How correlated the judges' errors (score minus grade) are, and how many independent votes the panel is
    then worth: k / (1 + (k - 1) r) for k judges with mean pairwise error correlation r (the panel's members: a
    second opinion casts no vote)."""
    wide = _wide(graded, scores)
    judges = sorted(j for j in scores["judge"].unique() if not is_second_opinion(j))
    errors = wide[judges].sub(wide["grade"], axis=0).dropna(axis=1, how="all")  # a judge that scored none: not a vote
    judges = list(errors.columns)
    corr = errors.corr(min_periods=3).to_numpy()  # pairwise over the answers both judges score
    k = len(judges)
    r = float(np.nanmean(corr[np.triu_indices(k, 1)])) if k > 1 else float("nan")  # pairs that score a kind together
    return {"judges": k, "mean_error_correlation": r, "effective_votes": k / (1 + (k - 1) * r) if k > 1 else 1.0}


READING_COLUMNS = ("item", "grade", "reason")


def read_readings(path: Path) -> pd.DataFrame:
    """One grader's readings (JSONL: item, grade 0-10, reason); a grade outside 0-10 or an item twice is refused."""
    readings = _jsonl(path)
    missing = set(READING_COLUMNS) - set(readings.columns)
    if missing:
        raise ValueError(f"{path}: readings lack {sorted(missing)}; each line is {{item, grade, reason}}")
    bad = readings[~readings["grade"].between(0, 10)]
    if len(bad) or readings["item"].duplicated().any():
        raise ValueError(f"{path}: grades outside 0-10 ({bad['item'].tolist()}) or items read twice")
    return readings[list(READING_COLUMNS)]


def assemble(drawn: pd.DataFrame, first: pd.DataFrame, second: pd.DataFrame, third: pd.DataFrame | None,
             run: str, graded_on: str) -> pd.DataFrame:
    """The graded set: each drawn answer with both readings, the third where they were more than SETTLE_GAP apart,
    and the settled grade. Every drawn item must have been read by both graders."""
    readings = drawn.merge(first.add_suffix("_a").rename(columns={"item_a": "item"}), on="item", validate="one_to_one")
    readings = readings.merge(second.add_suffix("_b").rename(columns={"item_b": "item"}), on="item", validate="one_to_one")
    if len(readings) != len(drawn):
        raise ValueError(f"{len(drawn) - len(readings)} drawn answers lack a reading by both graders")
    third = third if third is not None else pd.DataFrame(columns=list(READING_COLUMNS))
    readings = readings.merge(third.add_suffix("_c").rename(columns={"item_c": "item"}), on="item", how="left")
    readings["grade"] = [settle(a, b, c) for a, b, c in zip(readings["grade_a"], readings["grade_b"], readings["grade_c"])]
    return readings.assign(run=run, graded_on=graded_on)


def readings_agreement(graded: pd.DataFrame) -> list[str]:
    """One sentence per grading (the answers graded on one day): how far the two readings agreed and how many a third
    settled. nova_lab/judging/graded/README.md carries these sentences; a test keeps them the set's."""
    lines = []
    for day, batch in graded.groupby("graded_on", sort=True):
        gap = (batch["grade_a"] - batch["grade_b"]).abs()
        thirds = int((gap > SETTLE_GAP).sum())
        spearman = stats.spearmanr(batch["grade_a"], batch["grade_b"]).statistic
        settled = f"{thirds} pair(s) more than {SETTLE_GAP} points apart, settled by a third reading" if thirds else (
            f"no pair was more than {SETTLE_GAP} points apart")
        lines.append(f"**How the readings agreed ({day}).** Spearman {spearman:.2f} between graders A and B over the "
                     f"{len(batch)} answers; mean absolute difference {gap.mean():.2f} points, largest {gap.max():.0f}; "
                     f"{settled}.")
    return lines


def write(graded: pd.DataFrame, path: Path = GRADED_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()},
                        ensure_ascii=False) for row in graded.to_dict("records")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _jsonl(path: Path) -> pd.DataFrame:
    """A JSON Lines file as a frame, split on `\\n` only (nova_format.json_lines says why)."""
    return pd.DataFrame([json.loads(line) for line in json_lines(path.read_text(encoding="utf-8")) if line.strip()])


def _sheet(args: argparse.Namespace) -> None:
    """Draw answers of a finished run by kind and write the drawn rows (origin kept) and the blind sheet."""
    from nova_lab.core.results import read_answers
    from nova_lab.data.data_prep import read_test

    questions = read_test(args.run)
    answers = pd.concat([read_answers(args.run, model, questions).assign(model=model) for model in args.models])
    taken = set(read(args.set)["answer_key"]) if args.set.is_file() else set()
    drawn = pd.concat([draw(answers[~answers["key"].isin(taken)], questions, int(count), args.seed, by="kind",
                            kinds=(kind,)) for kind, count in (spec.rsplit(":", 1) for spec in args.kinds)])
    drawn = drawn.sort_values("item").reset_index(drop=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write(drawn, args.out / "drawn.jsonl")
    write(blind(drawn), args.out / "sheet.jsonl")
    print(f"{len(drawn)} answers drawn: {args.out / 'sheet.jsonl'} is the graders' sheet; keep drawn.jsonl from them")


def _add(args: argparse.Namespace) -> None:
    """Settle two graders' readings (and a third's, where needed) of a drawn sheet and append them to the set."""
    drawn = _jsonl(args.drawn)
    third = read_readings(args.third) if args.third else None
    graded = assemble(drawn, read_readings(args.first), read_readings(args.second), third, args.run, args.graded_on)
    kept = read(args.set) if args.set.is_file() else graded.iloc[:0]
    if set(graded["item"]) & set(kept["item"]):
        raise ValueError(f"items already in {args.set}: {sorted(set(graded['item']) & set(kept['item']))[:5]}")
    write(pd.concat([kept, graded[kept.columns]], ignore_index=True), args.set)
    print(f"{len(graded)} graded answers added: {len(kept) + len(graded)} in {args.set}")


if __name__ == "__main__":  # the README of nova_lab/judging/graded/ says how a set is drawn, graded and added
    parser = argparse.ArgumentParser(prog="python -m nova_lab.judging.graded_set", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True)
    sheet = commands.add_parser("sheet", help="draw answers of a run by kind; write drawn.jsonl and the blind sheet")
    sheet.add_argument("--run", default="study")
    sheet.add_argument("--models", nargs="+", default=["micro", "lite"])
    sheet.add_argument("--kinds", nargs="+", required=True, help='"kind:answers per (model, configuration)"')
    sheet.add_argument("--seed", type=int, default=13)
    sheet.add_argument("--out", type=Path, required=True)
    sheet.add_argument("--set", type=Path, default=GRADED_FILE, help="leave out the answers this graded set holds")
    sheet.set_defaults(run_command=_sheet)
    add = commands.add_parser("add", help="settle the readings of a drawn sheet and append them to the set")
    add.add_argument("--drawn", type=Path, required=True)
    add.add_argument("--first", type=Path, required=True)
    add.add_argument("--second", type=Path, required=True)
    add.add_argument("--third", type=Path)
    add.add_argument("--run", default="study")
    add.add_argument("--graded-on", required=True)
    add.add_argument("--set", type=Path, default=GRADED_FILE, help="the graded set to add to (made if absent): "
                     "the package's by default; yours is then named by `grades:` in the params")
    add.set_defaults(run_command=_add)
    arguments = parser.parse_args()
    arguments.run_command(arguments)
