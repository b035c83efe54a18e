"""The judge panel: every answer scored 0-10 with a short rationale, behind one interface.

The study used two LLM judges to reduce the bias of one. Offline, the panel is three judges
of different kinds that need no network and no LLM: a reference-grounded semantic judge, a
strict fact-check judge and, for free-text references, a word-overlap judge. A small local LLM
(the stand-ins are 135M-630M parameters) is not a judge anyone should trust, so there is none. Bedrock's LLM judges implement the same `Judge` protocol,
read the same `RUBRIC`, and go through `parse_verdict`: an output it cannot read becomes a
NaN score that is counted as a parse failure, never a silent 0.

Not every judge scores every question (`Judge.scores`): a free-text reference (what an operation
does) has no exact values, so the fact check does not pretend to check it; the semantic judge and
the overlap judge (words, not embeddings) score it instead, so no answerable kind rests on one judge
offline (a reference that adds no word to the question is the semantic judge's alone).
On an unanswerable probe the fact check applies `fabrication.outcome` (10 when the answer declines,
0 otherwise) and the semantic judge, whose similarity to "there is no such parameter" means
nothing, does not score it. The panel's score of an answer is the mean of the judges that score it.
An LLM judge scores everything, by the rubric.

Both similarity judges credit only what an answer says beyond the question: blind grades gave
nothing to answers that restate the operation's name, while similarity to a reference that itself
restates the question gave them 6-9 points. The semantic judge's zero is the question's own
similarity to the reference; the overlap judge drops the question's words before it counts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
from rouge_score import rouge_scorer, tokenizers
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from nova_lab.core.registry import registrar
from nova_lab.core.vocabulary import JUDGE_NAMES
from nova_lab.judging import fabrication
from nova_lab.judging.json_replies import first_object_with
from nova_lab.retrieval import embeddings

RUBRIC_VERSION = "r6"  # bump on any change to the rubric or to a judge's scoring: verdicts are cached by it
RUBRIC = """Score the answer from 0 to 10 against the reference answer to the same AWS question.
- 10: every key fact of the reference (names, values, numbers) is present and nothing contradicts it;
  wording, order and extra correct detail do not matter.
- 5: about half of the key facts are present, or all of them next to a wrong value of the same kind.
- 0: no key fact is present, the answer is empty, or it answers another question.
Key facts are the exact values an AWS user would act on: API versions, protocol names, parameter
and error names, enum values, numeric limits, HTTP methods and paths, pagination tokens; they
count only written as the API writes them (AWS values are case-sensitive).
When the reference says what an operation does in words, score how much of what it says the answer
says, and take points off for anything the answer says that contradicts it.
When the reference says that the operation or parameter asked about does not exist, score 10 for an
answer that says so or says it does not know, and 0 for an answer that states values, a list or a
description for it: that answer is a fabrication."""

SECOND_OPINION = "Bedrock Evaluations"  # a judge of the graded set only, never of the panel (bedrock/evaluation.py)


def second_opinion_name(evaluator: str) -> str:
    return f"{SECOND_OPINION} ({evaluator})"


def is_second_opinion(judge_name: str) -> bool:
    return judge_name.startswith(f"{SECOND_OPINION} (")


GOOD_ANSWER = 7  # a score of 7 or more (of the rubric's 10): an answer a user could act on (06's "scored 7+")
SEMANTIC_FLOOR = 0.3  # MiniLM cosine of unrelated AWS sentences sits around here: it earns nothing
# the overlap judge scores a free-text reference only when it says a word beyond the question (92% of them)
OVERLAP_MIN_WORDS = 1
GENERIC_WORDS = {"aws", "api", "apis", "http", "https", "sdk", "sdks", "cli", "uri", "url", "id", "arn"}
HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"}
NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class Item:
    """One answer to judge, with what the rubric grounds it in."""

    answer_key: str
    question: str
    reference: str
    key_facts: tuple[str, ...]
    answer: str
    unanswerable: bool = False  # a probe: the reference says the thing asked about does not exist


@dataclass(frozen=True)
class Verdict:
    score: float  # 0-10; NaN when the judge's output could not be parsed
    rationale: str


class Judge(Protocol):
    name: str
    kind: str

    def scores(self, item: Item) -> bool:
        """Whether this judge scores this kind of item at all (the module's docstring says which)."""

    def judge(self, items: list[Item]) -> list[Verdict | None]:
        """One verdict per item; None when the request for it failed (it is asked again on the next run)."""


JUDGES: dict[str, Callable[[], Judge]] = {}
register = registrar(JUDGES, JUDGE_NAMES)


def value_pattern(value: str) -> re.Pattern:
    """A value as a whole token, case and all: "json" is not inside "rest-json", "1" not inside
    "10", "ec2" is not "EC2"; a number may touch a hyphen, as in "20-2048"."""
    if NUMBER.fullmatch(value):
        return re.compile(rf"(?<![\w.]){re.escape(value)}(?!\w|\.\d)")
    return re.compile(rf"(?<![\w-]){re.escape(value)}(?![\w-])")


def _normalise(answer: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", answer)  # "2,048" says 2048


def present_facts(answer: str, key_facts: tuple[str, ...]) -> list[str]:
    """The key facts the answer states; a fact written with thousands commas ("1,209,600 seconds", as a user's
    Q&A file may give it) is read as the answer is, without them."""
    answer = _normalise(answer)
    return [fact for fact in dict.fromkeys(key_facts) if value_pattern(_normalise(fact)).search(answer)]


def _shape(value: str) -> str:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return "date"
    if NUMBER.fullmatch(value):
        return "number"
    if value in HTTP_METHODS:
        return "method"
    return "path" if value.startswith("/") else "name"


_CANDIDATES = {
    "date": r"\d{4}-\d{2}-\d{2}",
    "number": r"(?<![\w.])\d+(?:\.\d+)?(?!\w|\.\d)",
    "method": r"\b(?:GET|PUT|POST|DELETE|PATCH|HEAD)\b",
    "path": r"(?<!\S)/\S*",
    # identifier-like: snake_case, kebab-case with a capital or digit (not "read-only"), CamelCase,
    # camelCase or ALL CAPS: the shapes of AWS names and values
    "name": r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b|\b(?=[\w-]*[A-Z0-9])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+\b"
            r"|\b[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*\b|\b[a-z]+[A-Z][A-Za-z0-9]*\b|\b[A-Z]{2,}[0-9]*\b",
}


def wrong_values(item: Item) -> list[str]:
    """Values in the answer of the same shape as a key fact that neither the reference nor the question holds."""
    known = f"{item.reference} {item.question}"
    shapes = {_shape(fact) for fact in item.key_facts}
    found = [token.rstrip(".,;:") for shape in shapes for token in re.findall(_CANDIDATES[shape], _normalise(item.answer))]
    return [token for token in dict.fromkeys(found)
            if token and token.lower() not in GENERIC_WORDS and not value_pattern(token).search(known)]


@register("fact_check")
class FactCheckJudge:
    """Strict: recall of the key facts times their precision against same-shaped wrong values."""

    name = "fact_check"
    kind = "rule-based fact check"

    def scores(self, item: Item) -> bool:
        return item.unanswerable or bool(item.key_facts)

    def judge(self, items: list[Item]) -> list[Verdict]:
        return [self._one(item) for item in items]

    def _one(self, item: Item) -> Verdict:
        if item.unanswerable:
            outcome = fabrication.outcome(item.answer, item.question)
            return Verdict(10.0 if outcome == fabrication.DECLINES else 0.0, f"on a probe, the answer {outcome}")
        keys = list(dict.fromkeys(item.key_facts))
        hits = present_facts(item.answer, item.key_facts)
        wrong = wrong_values(item)
        recall = len(hits) / len(keys) if keys else 0.0
        precision = len(hits) / (len(hits) + len(wrong)) if hits else 0.0
        rationale = f"{len(hits)}/{len(keys)} key facts present"
        if wrong:
            rationale += f"; not in the reference: {', '.join(wrong[:5])}"
        return Verdict(round(10 * recall * precision, 2), rationale)


@register("semantic")
class SemanticJudge:
    """Reference-grounded: half embedding similarity to the reference, half key-fact coverage."""

    name = "semantic"
    kind = "embedding similarity + coverage"

    def scores(self, item: Item) -> bool:
        return not item.unanswerable

    def judge(self, items: list[Item]) -> list[Verdict]:
        n = len(items)
        texts = [item.answer for item in items] + [item.reference for item in items] + [item.question for item in items]
        vectors = embeddings.embed(texts, embeddings.default_cache(), progress=False)
        answers, references, questions = vectors[:n], vectors[n: 2 * n], vectors[2 * n:]
        cosines = np.einsum("ij,ij->i", answers, references)
        asked = np.einsum("ij,ij->i", questions, references)
        return [self._one(item, float(cosine), float(floor)) for item, cosine, floor in zip(items, cosines, asked)]

    @staticmethod
    def _one(item: Item, cosine: float, asked: float) -> Verdict:
        """Similarity counts from the question's own cosine to the reference (or SEMANTIC_FLOOR, if higher): an
        answer that only restates the question is as close to the reference as the question is, and earns 0."""
        floor = max(SEMANTIC_FLOOR, asked)
        similarity = 0.0 if not item.answer.strip() else min(max((cosine - floor) / (1 - floor), 0), 1)
        said = f"cosine {cosine:.2f} to the reference, the question's {asked:.2f}"
        keys = list(dict.fromkeys(item.key_facts))
        if not keys:  # a free-text reference: similarity is all there is to go on
            return Verdict(round(10 * similarity, 2), f"{said} (no key facts)")
        coverage = len(present_facts(item.answer, item.key_facts)) / len(keys)
        return Verdict(round(10 * (similarity + coverage) / 2, 2), f"{said}; covers {coverage:.0%} of the key facts")


class BeyondQuestion:
    """rouge-score's tokenizer (lower case, Porter stems) with CamelCase split ("DeleteBucket" is "delete bucket"),
    English stop words dropped, and, given a question, the question's words dropped: what is left of a text is
    what it says that the question did not."""

    _base = tokenizers.DefaultTokenizer(use_stemmer=True)
    _stop = frozenset(_base.tokenize(" ".join(ENGLISH_STOP_WORDS)))

    def __init__(self, question: str = ""):
        self._asked = frozenset(self.words(question))

    @classmethod
    def words(cls, text: str) -> list[str]:
        split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", text)
        return [word for word in cls._base.tokenize(split) if word not in cls._stop]

    def tokenize(self, text: str) -> list[str]:
        return [word for word in self.words(text) if word not in self._asked]


@register("overlap")
class OverlapJudge:
    """Lexical, for free-text references: ROUGE-1 F1 (rouge-score, the standard summarisation and extractive-QA
    measure) between answer and reference over the words the reference says beyond the question. Chosen as the
    free-text judge beside the semantic one because it fails differently from embedding similarity: it cannot be swayed by an answer on the
    right topic that says nothing, and it needs no model. F1 rather than recall, so an answer cannot collect
    words by listing many; a reference that says fewer than OVERLAP_MIN_WORDS words beyond the question is not
    scored (there is nothing to count)."""

    name = "overlap"
    kind = "word overlap beyond the question (ROUGE-1 F1)"

    def scores(self, item: Item) -> bool:
        return (not item.unanswerable and not item.key_facts
                and len(BeyondQuestion(item.question).tokenize(item.reference)) >= OVERLAP_MIN_WORDS)

    def judge(self, items: list[Item]) -> list[Verdict]:
        return [self._one(item) for item in items]

    @staticmethod
    def _one(item: Item) -> Verdict:
        beyond = BeyondQuestion(item.question)
        f1 = rouge_scorer.RougeScorer(["rouge1"], tokenizer=beyond).score(item.reference, item.answer)["rouge1"]
        told = beyond.tokenize(item.reference)
        return Verdict(round(10 * f1.fmeasure, 2), f"says {f1.recall:.0%} of the {len(told)} words the reference adds "
                                                   f"to the question ({', '.join(told[:6])}); {f1.precision:.0%} of its own")


def judge_prompt(item: Item) -> str:
    """What an LLM judge reads: the rubric, the question, the reference, the answer, the output format."""
    return (f"{RUBRIC}\n\nQuestion: {item.question}\nReference answer: {item.reference}\n"
            f"Answer to score: {item.answer or '(empty)'}\n\n"
            'Reply with JSON only: {"score": <integer 0-10>, "rationale": "<one sentence>"}')


def parse_verdict(text: str) -> Verdict:
    """An LLM judge's reply as a verdict; anything unreadable or out of 0-10 is NaN, with the reason."""
    reply = first_object_with(text, "score")
    if reply is None:
        return Verdict(math.nan, f"unparseable: {text[:80]!r}")
    score = reply["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float, str)):
        return Verdict(math.nan, f"score {score!r} is not a number")
    try:
        score = float(score)
    except ValueError:
        return Verdict(math.nan, f"score {score!r} is not a number")
    if not 0 <= score <= 10:
        return Verdict(math.nan, f"score {score} outside 0-10")
    return Verdict(score, str(reply.get("rationale", "")).strip())
