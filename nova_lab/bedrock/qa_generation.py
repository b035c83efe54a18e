"""Q&A pairs written by an LLM through Converse, as the study made them, behind the offline
generator's interface (`qa.QAGenerator`), so the split, strata and record schema stay the same.

For each fact the model gets the fact and its source document and returns JSON with four
question/answer pairs. A pair is kept only if its answer holds every key fact as the API writes
it, it has no word that fails a Nova job, and its question is not a near-copy of another; a
phrasing the model did not deliver comes from the template generator, and how many did is
counted. Replies are stored by fact, so a re-run asks nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rapidfuzz import fuzz

from nova_lab.bedrock import runtime
from nova_lab.core.caching import fingerprint
from nova_lab.core.records import RecordStore
from nova_lab.data.nova_format import reserved_words_in
from nova_lab.data.qa import Phrasing, TemplateQAGenerator
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


def valid_pairs(pairs: list[dict[str, Any]], key_facts: tuple[str, ...]) -> list[tuple[str, str]]:
    """The pairs worth teaching or testing: complete, holding every key fact, no reserved word, no near-copies."""
    kept: list[tuple[str, str]] = []
    for pair in pairs:
        question, answer = str(pair.get("question", "")).strip(), str(pair.get("answer", "")).strip()
        if not question or not answer or len(present_facts(answer, key_facts)) < len(set(key_facts)):
            continue
        if reserved_words_in(question) or reserved_words_in(answer):
            continue
        if any(fuzz.token_sort_ratio(question, other) >= NEAR_COPY for other, _ in kept):
            continue
        kept.append((question, answer))
    return kept


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
    replies: dict[str, str] | None = None  # fact key -> the model's reply, as stored

    def max_phrasings(self, fact: pd.Series) -> int:
        return min(PHRASINGS, self.fallback.max_phrasings(fact))

    def _pairs(self, fact: pd.Series) -> list[tuple[str, str]]:
        if self.replies is None:
            self.replies = dict(zip(*self.store.frame()[["key", "reply"]].T.values)) if self.store.path.exists() else {}
        key = fingerprint("qa", self.model_id, fact["fact_id"], list(fact["key_facts"]))
        if key not in self.replies:
            text = self.documents.set_index("doc_id").loc[fact["doc_id"], "text"][: self.max_document_chars]
            prompt = PROMPT.format(n=PHRASINGS, values=", ".join(fact["key_facts"]), document=text,
                                   fact=f"{fact['fact_type']} of {fact['service_name']} {fact.get('operation') or ''}".strip())
            reply = runtime.converse(self.client, self.model_id, prompt, 1200, system="You write exam questions about AWS APIs.")
            self.store.append([{"key": key, "fact_id": fact["fact_id"], "reply": reply.text}])
            self.replies[key] = reply.text
        return valid_pairs(_reply_pairs(self.replies[key]), tuple(fact["key_facts"]))

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
