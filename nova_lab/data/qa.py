"""The Q&A set: questions with verifiable reference answers, split into train/validation/test.

A generator turns one fact into distinct phrasings (question + one-sentence answer); the
split is the generator's business no more: it is shared, so an LLM generator (Bedrock) plugs
in with the same record schema. The test split has two strata: `seen` facts are taught by
the training set and asked in a phrasing training never used; `unseen` facts appear only in
the knowledge base. A third stratum, `unanswerable`, holds the probes: questions about an
operation or parameter that does not exist (`corpus.PROBE_TYPES`), never trained on, whose right
answer says so; they measure fabrication and are kept out of every quality figure.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Protocol

import pandas as pd

from nova_lab.core.caching import fingerprint
from nova_lab.core.registry import registrar
from nova_lab.core.vocabulary import QA_GENERATOR_NAMES
from nova_lab.data.corpus import PROBE_TYPES
from nova_lab.data.qa_templates import TEMPLATES

QA_COLUMNS = [
    "id", "question", "reference_answer", "key_facts", "fact_type", "kind", "service", "operation",
    "parameter", "source_doc_id", "split", "stratum", "fact_id", "phrasing",
]
UNANSWERABLE = "unanswerable"  # the probes' stratum
# what a question asks for, by fact type: an exact value of the API, which operation does something,
# what an operation does (free text), or about something that does not exist
KINDS = {"which_operation": "which operation", "operation_purpose": "what it does",
         **{fact_type: UNANSWERABLE for fact_type in PROBE_TYPES}}
EXACT_VALUE = "exact value"


def kind_of(fact_type: str) -> str:
    return KINDS.get(fact_type, EXACT_VALUE)


def answerable(questions: pd.DataFrame) -> pd.DataFrame:
    """The questions that have an answer: every quality figure is computed on these only."""
    return questions[questions["stratum"] != UNANSWERABLE]


def timed_sample(questions: pd.DataFrame, latency_sample: int, seed: int) -> pd.DataFrame:
    """The questions asked again one request at a time for latency: the same on both backends, answerable ones
    only (the study's design times the questions it scores)."""
    questions = answerable(questions)
    return questions.sample(min(latency_sample, len(questions)), random_state=seed)


def probes(questions: pd.DataFrame) -> pd.DataFrame:
    """The unanswerable probes: what fabrication is measured on."""
    return questions[questions["stratum"] == UNANSWERABLE]


@dataclass(frozen=True)
class Phrasing:
    question: str
    answer: str
    index: int  # which phrasing of the generator; distinct indices are distinct wordings


class QAGenerator(Protocol):
    name: str

    def max_phrasings(self, fact: pd.Series) -> int: ...

    def phrase(self, fact: pd.Series, indices: list[int]) -> list[Phrasing]: ...


GENERATORS: dict[str, Callable[[], QAGenerator]] = {}
register = registrar(GENERATORS, QA_GENERATOR_NAMES)


def join_list(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


@register("template")
class TemplateQAGenerator:
    """Fills fixed phrasings with a fact's fields: every answer is true by construction."""

    name = "template"

    def max_phrasings(self, fact: pd.Series) -> int:
        return len(TEMPLATES[fact["fact_type"]]["questions"])

    def phrase(self, fact: pd.Series, indices: list[int]) -> list[Phrasing]:
        template = TEMPLATES[fact["fact_type"]]
        keys = list(fact["key_facts"])
        fields = {
            "svc": fact["service_name"], "op": fact["operation"], "param": fact["parameter"],
            "facts": join_list(keys), "a": keys[0] if keys else "", "b": keys[-1] if keys else "",
            "does": fact.get("statement"),
        }
        answers = template["answers"]
        return [
            Phrasing(template["questions"][i].format(**fields), answers[i % len(answers)].format(**fields), i)
            for i in indices
        ]


def balanced_order(facts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Facts shuffled so that every (service, fact type) pair comes up before any comes twice.

    Without this the big services (EC2, SageMaker) and the common fact types would fill the
    whole set.
    """
    shuffled = facts.sample(frac=1.0, random_state=seed)
    rank = shuffled.groupby(["service", "fact_type"]).cumcount()
    tie = pd.Series(random.Random(seed).random() for _ in range(len(shuffled)))
    return shuffled.assign(_rank=rank.values, _tie=tie.values).sort_values(["_rank", "_tie"]).drop(
        columns=["_rank", "_tie"]).reset_index(drop=True)


@dataclass(frozen=True)
class SplitSizes:
    n_train: int
    train_phrasings_per_fact: int
    n_validation: int
    n_test: int
    n_probes: int = 0  # unanswerable questions, tested beside the n_test answerable ones

    @property
    def taught_facts(self) -> int:
        return math.ceil(self.n_train / self.train_phrasings_per_fact)

    def seen_unseen(self, total: int) -> tuple[int, int]:
        return total // 2, total - total // 2


class NotEnoughFacts(ValueError):
    pass


def _record(fact: pd.Series, phrasing: Phrasing, split: str, stratum: str) -> dict:
    return {
        "id": f"q-{fingerprint(fact['fact_id'], phrasing.index)}",
        "question": phrasing.question,
        "reference_answer": phrasing.answer,
        "key_facts": list(fact["key_facts"]),
        "fact_type": fact["fact_type"],
        "kind": kind_of(fact["fact_type"]),
        "service": fact["service"],
        "operation": fact["operation"],
        "parameter": fact["parameter"],
        "source_doc_id": fact["doc_id"],
        "split": split,
        "stratum": stratum,
        "fact_id": fact["fact_id"],
        "phrasing": phrasing.index,
    }


def build_qa_set(facts: pd.DataFrame, generator: QAGenerator, sizes: SplitSizes, seed: int) -> pd.DataFrame:
    """All Q&A records of the study, one row each, in the schema of `QA_COLUMNS`."""
    is_probe = facts["fact_type"].isin(PROBE_TYPES)
    records = _answerable_records(facts[~is_probe], generator, sizes, seed)
    records += _probe_records(facts[is_probe], sizes.n_probes, seed)
    return pd.DataFrame(records, columns=QA_COLUMNS)


def _probe_records(probe_facts: pd.DataFrame, n: int, seed: int) -> list[dict]:
    """`n` probes spread over services and probe types, each in one phrasing, all in the test split. They are
    always phrased by the templates: an LLM generator would correct the altered names it was given."""
    pool = balanced_order(probe_facts, seed)
    if len(pool) < n:
        raise NotEnoughFacts(f"the corpus has {len(pool)} probes; n_probes={n} needs more: add services or lower it")
    template = TemplateQAGenerator()
    records = []
    for _, fact in pool.head(n).iterrows():
        index = random.Random(f"{seed}/{fact['fact_id']}").randrange(template.max_phrasings(fact))
        records.append(_record(fact, template.phrase(fact, [index])[0], "test", UNANSWERABLE))
    return records


def _answerable_records(facts: pd.DataFrame, generator: QAGenerator, sizes: SplitSizes, seed: int) -> list[dict]:
    k = sizes.train_phrasings_per_fact
    val_seen, val_unseen = sizes.seen_unseen(sizes.n_validation)
    test_seen, test_unseen = sizes.seen_unseen(sizes.n_test)
    # a taught fact needs k training phrasings plus one more for a held-out question
    pool = balanced_order(facts[facts.apply(generator.max_phrasings, axis=1) > k], seed)
    needed = sizes.taught_facts + val_unseen + test_unseen
    if len(pool) < needed or sizes.taught_facts < val_seen + test_seen:
        raise NotEnoughFacts(
            f"the corpus has {len(pool)} usable facts; n_train={sizes.n_train} "
            f"(x{k} phrasings = {sizes.taught_facts} taught facts), n_validation={sizes.n_validation} "
            f"and n_test={sizes.n_test} need {needed} facts and {val_seen + test_seen} taught facts: "
            "add services or lower the sizes"
        )
    taught = pool.iloc[: sizes.taught_facts]
    unseen = pool.iloc[sizes.taught_facts: needed]
    rng = random.Random(seed)
    held_out = rng.sample(range(len(taught)), val_seen + test_seen)
    held_split = {i: ("test" if n < test_seen else "validation") for n, i in enumerate(held_out)}

    records = []
    for i, (_, fact) in enumerate(taught.iterrows()):
        order = random.Random(f"{seed}/{fact['fact_id']}").sample(range(generator.max_phrasings(fact)), k + 1)
        train_count = min(k, sizes.n_train - i * k)
        for phrasing in generator.phrase(fact, order[:train_count]):
            records.append(_record(fact, phrasing, "train", "train"))
        if i in held_split:
            records.append(_record(fact, generator.phrase(fact, order[k:])[0], held_split[i], "seen"))
    for n, (_, fact) in enumerate(unseen.iterrows()):
        index = random.Random(f"{seed}/{fact['fact_id']}").randrange(generator.max_phrasings(fact))
        split = "test" if n < test_unseen else "validation"
        records.append(_record(fact, generator.phrase(fact, [index])[0], split, "unseen"))
    return records


def counts(qa: pd.DataFrame) -> pd.DataFrame:
    """Questions by split and stratum: the table every report starts with."""
    return qa.groupby(["split", "stratum"]).size().rename("questions").reset_index()


def counts_by_kind(qa: pd.DataFrame) -> pd.DataFrame:
    """Held-out questions by split and stratum (rows) and kind (columns)."""
    held = qa[qa["split"] != "train"]
    return held.pivot_table(index=["split", "stratum"], columns="kind", values="id", aggfunc="count", fill_value=0)
