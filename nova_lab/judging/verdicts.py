"""Step 05: the judge panel scores every answer of one model; verdicts are cached like answers.

A verdict is keyed by the judge, the rubric version and the answer (its key and text), so a
re-run judges nothing twice and a killed run resumes where it stopped.
"""

from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from nova_lab.core.caching import fingerprint
from nova_lab.core.params import JudgingParams
from nova_lab.core.records import RecordStore
from nova_lab.core.results import current, in_order, judgments_path, read_repeats, set_current
from nova_lab.core.study_steps import JUDGING, StepNotRun, run_this
from nova_lab.data.qa import UNANSWERABLE, answerable
from nova_lab.judging.judges import JUDGES, RUBRIC_VERSION, Item, Judge, Verdict

JUDGMENT_COLUMNS = ["key", "answer_key", "judge", "kind", "rubric_version", "score", "rationale"]
_BATCH = 256


def items(answers: pd.DataFrame, questions: pd.DataFrame) -> list[Item]:
    """Each answer with the question, reference and key facts the rubric grounds it in."""
    joined = answers.merge(questions.set_index("id"), left_on="question_id", right_index=True, validate="many_to_one")
    return [Item(r.key, r.question, r.reference_answer, tuple(r.key_facts), r.answer, r.stratum == UNANSWERABLE)
            for r in joined.itertuples()]


def verdict_key(judge_name: str, item: Item) -> str:
    """Everything a verdict depends on: judge, rubric version, answer, reference and key facts."""
    return fingerprint(judge_name, RUBRIC_VERSION, item.answer_key, item.answer, item.reference, item.key_facts)


def judge_all(judges: list[Judge], pending_items: list[Item], store: RecordStore) -> int:
    """Verdicts of every judge on every item not yet in the store; returns how many were made.
    A verdict whose request failed is not stored, so the next run asks for it again."""
    done = store.keys()
    made = failed = 0
    todos = {judge.name: [item for item in pending_items if judge.scores(item) and verdict_key(judge.name, item) not in done]
             for judge in judges}
    for judge in judges:  # a judge that runs a batch job starts it now: the judges' jobs run side by side
        if todos[judge.name] and hasattr(judge, "submit"):
            judge.submit(todos[judge.name])
    for judge in judges:
        todo = todos[judge.name]
        size = getattr(judge, "items_per_call", _BATCH) or max(1, len(todo))  # None: all at once (a batch job)
        for start in tqdm(range(0, len(todo), size), desc=f"judge {judge.name}", unit="batch", disable=not todo):
            batch = todo[start: start + size]
            try:
                verdicts = judge.judge(batch)
            except Exception as exc:  # a judge stopped mid-batch (BedrockJudge) hands what it made as `partial`
                _keep(store, judge, batch, getattr(exc, "partial", None) or [])
                raise
            _keep(store, judge, batch, verdicts)
            made += sum(verdict is not None for verdict in verdicts)
            failed += sum(verdict is None for verdict in verdicts)
    if failed:
        print(f"nova-lab: {failed} verdict request(s) failed after retries and were not stored: run again to ask them")
    return made


def _keep(store: RecordStore, judge: Judge, batch: list[Item], verdicts: list[Verdict | None]) -> None:
    store.append([{"key": verdict_key(judge.name, item), "answer_key": item.answer_key, "judge": judge.name,
                   "kind": judge.kind, "rubric_version": RUBRIC_VERSION, "score": verdict.score,
                   "rationale": verdict.rationale} for item, verdict in zip(batch, verdicts) if verdict])


def stored_scores(store: RecordStore, judge_names: list[str], judged: list[Item]) -> dict[str, list[float]]:
    """Each judge's stored score of each item, in order (NaN where a verdict is missing or the judge does not score
    that kind of item): how a check set or the graded set reads back what `judge_all` kept."""
    verdicts = store.frame().drop_duplicates("key", keep="last").set_index("key")["score"]
    return {name: [verdicts.get(verdict_key(name, item), float("nan")) for item in judged] for name in judge_names}


def panel(names: list[str]) -> list[Judge]:
    return [JUDGES[name]() for name in names]


def run(cfg: JudgingParams, answers: pd.DataFrame, questions: pd.DataFrame, judges: list[Judge]) -> pd.DataFrame:
    """Judge every answer, and the other fine-tuning repeats' answers; returns the answers in long format, one row
    per (answer, judge that scores it). The panel is set as the model's current one first, so the analysis reads
    exactly its verdicts."""
    set_current(cfg.run_name, cfg.model, judges=[judge.name for judge in judges])
    store = RecordStore(judgments_path(cfg.run_name, cfg.model), JUDGMENT_COLUMNS)
    repeats = read_repeats(cfg.run_name, cfg.model)
    everything = pd.concat([answers, repeats], ignore_index=True) if len(repeats) else answers
    judge_all(judges, items(everything, questions), store)
    return read_scored(cfg.run_name, cfg.model, answers, questions, judges)


def read_scored(run_name: str, model: str, answers: pd.DataFrame, questions: pd.DataFrame,
                judges: list[Judge] | None = None) -> pd.DataFrame:
    """The answers joined with each judge's verdict on exactly them (with the question's stratum): of
    `judges`, or of the panel step 05 last used. A missing verdict (a judge that was never asked, a request that
    failed) is an error."""
    panel_judges = judges if judges is not None else [_named(name) for name in current(run_name, model, "judges")]
    names = [judge.name for judge in panel_judges]
    path = judgments_path(run_name, model)
    verdicts = RecordStore(path, JUDGMENT_COLUMNS).frame()
    wanted = {verdict_key(judge.name, item) for item in items(answers, questions) for judge in panel_judges
              if judge.scores(item)}
    verdicts = verdicts[verdicts["key"].isin(wanted)]
    if len(verdicts) < len(wanted):
        raise StepNotRun(f"{len(wanted) - len(verdicts)} of the {len(wanted)} verdicts of the panel {names} on "
                         f"{model!r}'s current answers are not in {path}: "
                         f"{run_this(JUDGING, run_name, model)} to make them")
    scored = answers.merge(verdicts.drop(columns="key"), left_on="key", right_on="answer_key", validate="one_to_many")
    return scored.join(questions.set_index("id")["stratum"], on="question_id")


class _ScoresAll:
    """A judge known by name only (an LLM judge of an earlier run): judges of that kind score every item."""

    def __init__(self, name: str):
        self.name = name

    def scores(self, item: Item) -> bool:
        return True


def _named(name: str) -> Judge:
    return JUDGES[name]() if name in JUDGES else _ScoresAll(name)


def summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, on the answerable questions: each judge's mean score, how many answers it scored (the
    fact check only those with key facts) and its parse-failure rate, and the panel mean (each answer's mean over
    the judges that score it)."""
    scored = answerable(scored)
    by_judge = scored.groupby(["configuration", "judge"])["score"].agg(
        mean="mean", scored="count", parse_failure_rate=lambda s: s.isna().mean()).unstack("judge")
    by_judge.columns = [f"{judge}_{stat}" for stat, judge in by_judge.columns]
    panel_mean = scored.groupby(["configuration", "key"])["score"].mean().groupby("configuration").mean()
    table = by_judge.assign(panel_mean=panel_mean)
    return table.reindex(in_order(table.index))


def plot(scored: pd.DataFrame):
    """Score distribution by configuration, one box per judge."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    figure, axes = plt.subplots(figsize=(8, 3.4))
    order = in_order(scored["configuration"])
    sns.boxplot(data=scored, x="configuration", y="score", hue="judge", order=order, ax=axes)
    axes.set(title="judge scores by configuration", xlabel="", ylabel="score (0-10)", ylim=(-0.5, 10.5))
    figure.tight_layout()
    return figure
