"""Judge meta-evaluation: does each judge order answers of known quality as it should?

From each test question's reference we build six answers whose order is known without any
judge: the reference, a paraphrase (the generator's other answer wording), the reference
padded with true but idle sentences, the reference with its first key value swapped for a
value of the same kind from another question, the reference of an unrelated question, and an
empty answer. A judge is only as good as the rate at which it puts the better one first. The
check set is made from answerable questions only; a free-text reference has no key value to
swap, so its check answers have no `key_changed`, and a pair from the user's own Q&A file has no template to
paraphrase it, so it has no `paraphrase`.
"""

from __future__ import annotations

import zlib

import pandas as pd

from nova_lab.core.caching import fingerprint
from nova_lab.core.records import RecordStore
from nova_lab.core.results import meta_eval_judgments_path, meta_eval_path
from nova_lab.data.qa import TemplateQAGenerator, answerable
from nova_lab.judging.judges import Item, Judge, value_pattern
from nova_lab.judging.verdicts import JUDGMENT_COLUMNS, judge_all, stored_scores

VARIANTS = ("reference", "paraphrase", "verbose", "key_changed", "other_question", "empty")
CORRECT = ("reference", "paraphrase", "verbose")
WRONG = ("key_changed", "other_question", "empty")
EXPECTED_ORDER = [(better, worse) for better in CORRECT for worse in WRONG]
PADDING = ("Good question. {}", " You can check this in the API Reference or with the AWS CLI; values can "
           "change between API versions, so look at the current documentation before relying on it.")


def _paraphrase(question: pd.Series, fact: pd.Series) -> str:
    return TemplateQAGenerator().phrase(fact, [int(question["phrasing"]) ^ 1])[0].answer


def _key_changed(question: pd.Series, same_type: pd.DataFrame) -> str | None:
    """The reference with its first key value swapped for another question's, if one differs in more than case."""
    if not len(question["key_facts"]):
        return None
    value = question["key_facts"][0]
    taken = {fact.lower() for fact in question["key_facts"]}
    donors = sorted({d[0] for d in same_type["key_facts"] if d[0].lower() not in taken})
    if not donors:
        return None
    donor = donors[zlib.crc32(question["id"].encode()) % len(donors)]
    changed = value_pattern(value).sub(lambda _: donor, question["reference_answer"])
    return changed if not value_pattern(value).search(changed) else None


def _other(question: pd.Series, questions: pd.DataFrame, position: int) -> str:
    n = len(questions)
    for step in range(n // 2, n // 2 + n):  # the first question half the list away that shares no key value
        other = questions.iloc[(position + step) % n]
        if not set(other["key_facts"]) & set(question["key_facts"]):
            return other["reference_answer"]
    return ""


def check_set(questions: pd.DataFrame, facts: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to six answers of known rank for each of the first `n` answerable test questions (one row each)."""
    questions = answerable(questions).sort_values("id").reset_index(drop=True)
    facts = facts.set_index("fact_id")
    rows = []
    for position, question in questions.head(n).iterrows():
        answers = {
            "reference": question["reference_answer"],
            "paraphrase": (_paraphrase(question, facts.loc[question["fact_id"]])
                           if question["fact_id"] in facts.index else None),  # a user's own pair has no template
            "verbose": PADDING[0].format(question["reference_answer"]) + PADDING[1],
            "key_changed": _key_changed(question, questions[questions["fact_type"] == question["fact_type"]]),
            "other_question": _other(question, questions, position),
            "empty": "",
        }
        rows += [{"question_id": question["id"], "variant": variant, "answer": answer,
                  "question": question["question"], "reference": question["reference_answer"],
                  "key_facts": tuple(question["key_facts"])} for variant, answer in answers.items() if answer is not None]
    return pd.DataFrame(rows)


def score(checks: pd.DataFrame, judges: list[Judge], store: RecordStore) -> pd.DataFrame:
    """Every judge's score of every check answer, long format. Verdicts are kept in `store` like
    the answers' verdicts, so a re-run (on Bedrock, a paid one) asks no judge twice."""
    items = [Item(f"meta/{r.question_id}/{r.variant}/{fingerprint(r.question)[:12]}", r.question, r.reference,
                  r.key_facts, r.answer) for r in checks.itertuples()]  # the judge reads the question too
    judge_all(judges, items, store)
    stored = stored_scores(store, [j.name for j in judges], items)
    frames = [checks[["question_id", "variant"]].assign(judge=name, score=scores) for name, scores in stored.items()]
    return pd.concat(frames, ignore_index=True)


def run(run_name: str, model: str, questions: pd.DataFrame, facts: pd.DataFrame, judges: list[Judge],
        n: int) -> pd.DataFrame:
    """Score the check set and keep the scores beside the model's results, for the analysis to read."""
    store = RecordStore(meta_eval_judgments_path(run_name), JUDGMENT_COLUMNS)
    scores = score(check_set(questions, facts, n), judges, store)
    scores.to_parquet(meta_eval_path(run_name, model))
    return scores


def read_all(run_name: str, models: list[str]) -> pd.DataFrame:
    """The check-set scores that step 05 kept for each model."""
    return pd.concat([pd.read_parquet(meta_eval_path(run_name, m)).assign(model=m) for m in models], ignore_index=True)


def ordering_rates(scores: pd.DataFrame) -> pd.DataFrame:
    """Per judge and expected pair: the share of questions ordered right (a tie counts half)."""
    rows = []
    for judge, part in scores.groupby("judge"):
        wide = part.pivot_table(index="question_id", columns="variant", values="score").reindex(columns=list(VARIANTS))
        for better, worse in EXPECTED_ORDER:
            pair = wide[[better, worse]].dropna()
            right = (pair[better] > pair[worse]).mean() + 0.5 * (pair[better] == pair[worse]).mean()
            rows.append({"judge": judge, "better": better, "worse": worse, "questions": len(pair), "rate": right})
    return pd.DataFrame(rows)


def summary(scores: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """Per judge: the overall ordering rate and the mean score of each variant."""
    means = scores.pivot_table(index="judge", columns="variant", values="score").reindex(columns=list(VARIANTS))
    return rates.groupby("judge")["rate"].mean().rename("ordering_rate").to_frame().join(means.add_prefix("mean_"))
