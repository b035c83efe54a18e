"""Q&A pairs written by an LLM through Converse, as the study made them, behind the offline
generator's interface (`qa.QAGenerator`), so the split, strata and record schema stay the same.

For each fact the model gets the fact and its source document and returns JSON with four
question/answer pairs. A pair is kept only if its answer holds every key fact as the API writes
it, it has no word that fails a Nova job, and its question is not a near-copy of another; a
phrasing the model did not deliver comes from the template generator, and how many did is
counted. Replies are stored by fact, so a re-run asks nothing twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd
from rapidfuzz import fuzz
from tqdm.auto import tqdm

from nova_lab.bedrock import runtime
from nova_lab.core.caching import fingerprint
from nova_lab.core.records import RecordStore
from nova_lab.data.documents import SECTION_CHARS, sections
from nova_lab.data.nova_format import reserved_words_in
from nova_lab.data.qa import Phrasing, TemplateQAGenerator
from nova_lab.data.questions import PAIR_COLUMNS
from nova_lab.judging.json_replies import first_object_with
from nova_lab.judging.judges import present_facts

REPLY_COLUMNS = ["key", "fact_id", "reply"]  # the store's columns: RecordStore(path, REPLY_COLUMNS)
PHRASINGS = 4
NEAR_COPY = 90  # rapidfuzz token-sort ratio at which two questions count as one
PROMPT = """Write {n} different questions an AWS developer could ask about the fact below, each with a
one-sentence answer. Every answer must contain these exact values, written as given: {values}.
Vary the wording of the questions; do not copy each other.

Fact: {fact}
Source document (excerpt):
{document}

Reply with JSON only: {{"pairs": [{{"question": "...", "answer": "..."}}, ...]}}"""


def _reply_pairs(text: str) -> list[dict[str, Any]]:
    reply = first_object_with(text, "pairs")
    pairs = reply["pairs"] if reply and isinstance(reply["pairs"], list) else []
    return [p for p in pairs if isinstance(p, dict)]


def _usable(question: str, answer: str, key_facts: tuple[str, ...]) -> bool:
    """Complete, holding every key fact, no word that fails a Nova job."""
    return bool(question and answer) and len(present_facts(answer, key_facts)) >= len(set(key_facts)) \
        and not reserved_words_in(question) and not reserved_words_in(answer)


def _distinct(pairs: list[tuple]) -> list[tuple]:
    """The pairs in order, less any whose question (its first item) is a near-copy of one kept before it."""
    kept: list[tuple] = []
    for pair in pairs:
        if all(fuzz.token_sort_ratio(pair[0], other[0]) < NEAR_COPY for other in kept):
            kept.append(pair)
    return kept


def _texts(pair: dict[str, Any]) -> tuple[str, str]:
    return str(pair.get("question", "")).strip(), str(pair.get("answer", "")).strip()


def valid_pairs(pairs: list[dict[str, Any]], key_facts: tuple[str, ...]) -> list[tuple[str, str]]:
    """The pairs worth teaching or testing: complete, holding every key fact, no reserved word, no near-copies."""
    return _distinct([texts for texts in map(_texts, pairs) if _usable(*texts, key_facts)])


class StoredReplies:
    """A model's replies by request key, asked once: each kept in `store` as it comes, so a re-run asks nothing
    twice."""

    def __init__(self, store: RecordStore):
        self.store = store
        self.kept: dict[str, str] | None = None  # read from the store on first use

    def get(self, key: str, fact_id: str, ask: Callable[[], str]) -> str:
        if self.kept is None:
            self.kept = dict(zip(*self.store.frame()[["key", "reply"]].T.values)) if self.store.path.exists() else {}
        if key not in self.kept:
            self.kept[key] = ask()
            self.store.append([{"key": key, "fact_id": fact_id, "reply": self.kept[key]}])
        return self.kept[key]


@dataclass
class BedrockQAGenerator:
    client: Any
    model_id: str
    documents: pd.DataFrame  # doc_id, text
    store: RecordStore
    max_document_chars: int = 3000
    name: str = "bedrock"
    fallback: TemplateQAGenerator = field(default_factory=TemplateQAGenerator)
    delivered: int = 0  # phrasings the model wrote and the checks kept
    filled: int = 0  # phrasings the template generator had to supply

    def __post_init__(self) -> None:
        self.replies = StoredReplies(self.store)

    def max_phrasings(self, fact: pd.Series) -> int:
        return min(PHRASINGS, self.fallback.max_phrasings(fact))

    def _pairs(self, fact: pd.Series) -> list[tuple[str, str]]:
        def ask() -> str:
            text = self.documents.set_index("doc_id").loc[fact["doc_id"], "text"][: self.max_document_chars]
            prompt = PROMPT.format(n=PHRASINGS, values=", ".join(fact["key_facts"]), document=text,
                                   fact=f"{fact['fact_type']} of {fact['service_name']} {fact.get('operation') or ''}".strip())
            return runtime.converse(self.client, self.model_id, prompt, 1200,
                                    system="You write exam questions about AWS APIs.").text

        key = fingerprint("qa", self.model_id, fact["fact_id"], list(fact["key_facts"]))
        return valid_pairs(_reply_pairs(self.replies.get(key, fact["fact_id"], ask)), tuple(fact["key_facts"]))

    def phrase(self, fact: pd.Series, indices: list[int]) -> list[Phrasing]:
        pairs = self._pairs(fact)
        phrasings = []
        for index in indices:
            if index < len(pairs):
                phrasings.append(Phrasing(*pairs[index], index))
                self.delivered += 1
            else:
                phrasings.append(self.fallback.phrase(fact, [index])[0])
                self.filled += 1
        return phrasings


DOCUMENT_PROMPT = """Write {n} different question/answer pairs that a reader of the document below could ask and
that it answers. Each answer is one or two sentences the document supports. In "key_facts" list the exact values
from the document that the answer must hold (names, numbers, settings), each copied character for character.

Document: {title}
{text}

Reply with JSON only: {{"pairs": [{{"question": "...", "answer": "...", "key_facts": ["..."]}}, ...]}}"""
MAX_PAIRS_PER_SECTION = 6


def document_pairs(reply: str, section: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """The checked pairs of one reply on one section: key facts kept only where the section holds them word for
    word, then `valid_pairs`' checks (the answer holds every kept fact, no reserved word, no near-copies)."""
    candidates = []
    for pair in _reply_pairs(reply):
        facts = pair.get("key_facts") if isinstance(pair.get("key_facts"), list) else []
        facts = tuple(dict.fromkeys(str(f).strip() for f in facts if str(f).strip() and str(f).strip() in section))
        question, answer = _texts(pair)
        if _usable(question, answer, facts):
            candidates.append((question, answer, facts))
    return _distinct(candidates)


@dataclass
class DocumentPairWriter:
    """Q&A pairs an LLM writes from a folder of your documents (`documents:` without `questions:`), section by
    section, as `questions.read_questions` returns a file's pairs: each pair its own group, on its section's
    document, no split (01 assigns one) and no probe (a model cannot be checked on what a document does not
    say). Replies are stored by section, so a re-run asks nothing twice."""

    client: Any
    model_id: str
    store: RecordStore
    max_document_chars: int = SECTION_CHARS
    name: str = "bedrock"
    asked: int = 0  # pairs asked for
    written: int = 0  # pairs the model wrote
    kept: int = 0  # pairs that passed the checks

    def __post_init__(self) -> None:
        self.replies = StoredReplies(self.store)

    def _ask(self, prompt: str) -> Callable[[], str]:
        return lambda: runtime.converse(self.client, self.model_id, prompt, 1500,
                                        system="You write exam questions about the documents you are given.").text

    def write(self, documents: pd.DataFrame, wanted: int) -> pd.DataFrame:
        """About `wanted` pairs (a quarter more are asked for, as the checks drop some) over every section."""
        cut = [(doc.doc_id, doc.title, section) for doc in documents.itertuples()
               for section in sections(doc.text, self.max_document_chars)]
        per_section = min(MAX_PAIRS_PER_SECTION, max(1, math.ceil(1.25 * wanted / len(cut))))
        rows = []
        for doc_id, title, section in tqdm(cut, desc="write Q&A pairs", unit="section"):
            key = fingerprint("document-qa", self.model_id, doc_id, section, per_section)
            reply = self.replies.get(key, key, self._ask(DOCUMENT_PROMPT.format(n=per_section, title=title,
                                                                                 text=section)))
            self.asked += per_section
            self.written += len(_reply_pairs(reply))
            for question, answer, facts in document_pairs(reply, section):
                qid = f"q-{fingerprint(doc_id, question, answer)[:16]}"
                rows.append({"id": qid, "question": question, "reference_answer": answer, "key_facts": list(facts),
                             "kind": "answerable", "split": None, "source_doc_id": doc_id, "fact_id": qid})
        pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS).drop_duplicates("id")
        self.kept = len(pairs)
        return pairs
