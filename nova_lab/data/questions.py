"""The user's own Q&A set, from a CSV or JSONL file: one row per pair, checked before anything is trained.

Columns: `question` and `reference_answer` (required); `id`, `key_facts` (the exact values the fact check looks
for: a JSON list, or values separated by ` | `), `kind` (`unanswerable` marks a probe of fabrication), `split`
(train, validation or test), `source_document` (a document's path in the documents folder) and `group` (the id of
a pair and its paraphrases, kept in one split) are used when present.

Strata, as the study reports them: a held-out question is `seen` when the fine-tuning data covers it (a pair of
its group is in train, where the file has groups; else a pair on its source document is) and `unseen` when not;
probes are `unanswerable`. With no `split` column, the split is made so that the test set holds both strata
(`assign_splits` says how)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Protocol

import pandas as pd

from nova_lab.core.caching import fingerprint
from nova_lab.core.params import ParamsError
from nova_lab.core.study_models import short_of_training_records
from nova_lab.data.nova_format import reserved_words_in
from nova_lab.data.qa import QA_COLUMNS, UNANSWERABLE

SPLITS = ("train", "validation", "test")
REQUIRED = ("question", "reference_answer")
OPTIONAL = ("id", "key_facts", "kind", "split", "source_document", "group")
MAX_TRAIN = 20_000  # a Nova customization job's most training records
FACT_SEPARATOR = " | "
PAIR_COLUMNS = ["id", "question", "reference_answer", "key_facts", "kind", "split", "source_doc_id", "fact_id"]


class PairWriter(Protocol):
    """What writes Q&A pairs from documents when no file gives them (on Bedrock, an LLM): the pairs in
    `read_questions`' shape (PAIR_COLUMNS), no split."""

    name: str

    def write(self, documents: pd.DataFrame, wanted: int) -> pd.DataFrame: ...


class QuestionsError(ParamsError):
    """A Q&A file the study cannot use: the message names the file, the row (1 = the first data row) and what
    is allowed. Raised before any model or AWS call, so nothing is half-written."""


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise QuestionsError(f"questions: {path} is not a file: name a .csv or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise QuestionsError(f"{path}: not UTF-8 (byte offset {exc.start}): save it as UTF-8") from None
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise QuestionsError(f"{path} line {n}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise QuestionsError(f"{path} line {n}: a JSON object per line, not {type(row).__name__}")
                rows.append(row)
        return rows
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines(), strict=True)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise QuestionsError(f"{path} line {reader.line_num}: {exc}") from None
        for n, row in enumerate(rows, 1):
            if None in row:  # more fields than the header: a delimiter inside an unquoted value
                raise QuestionsError(f"{path} row {n}: {len(row) - 1 + len(row[None])} fields for {len(row) - 1} "
                                     "columns: a comma inside a value needs the value in double quotes")
        return rows
    raise QuestionsError(f"questions: {path} is neither .csv nor .jsonl")


def _facts(value, where: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except json.JSONDecodeError:
            raise QuestionsError(f"{where}: key_facts {text!r} is not a JSON list") from None
    return [part.strip() for part in text.split(FACT_SEPARATOR.strip()) if part.strip()]


def read_questions(path: Path, document_ids: set[str]) -> pd.DataFrame:
    """The file's pairs, checked: the columns, each value, the ids, the splits and the source documents."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise QuestionsError(f"{path}: no Q&A pairs")
    columns = set().union(*(row.keys() for row in rows))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise QuestionsError(f"{path}: no {' or '.join(repr(c) for c in missing)} column; the columns are "
                             f"{sorted(columns)} (required: {list(REQUIRED)}; used when present: {list(OPTIONAL)})")
    records, seen_ids = [], {}
    for n, row in enumerate(rows, 1):
        where = f"{path} row {n}"
        for column in REQUIRED:
            if not str(row.get(column) or "").strip():
                raise QuestionsError(f"{where}: empty {column}")
        qid = str(row.get("id") or "").strip() or f"q-{fingerprint(row['question'], row['reference_answer'])[:16]}"
        if qid in seen_ids:
            raise QuestionsError(f"{where}: id {qid!r} again (first on row {seen_ids[qid]}): ids must be unique")
        seen_ids[qid] = n
        split = str(row.get("split") or "").strip()
        if "split" in columns and split not in SPLITS:
            raise QuestionsError(f"{where}: split {split!r} is not one of {list(SPLITS)}")
        source = str(row.get("source_document") or "").strip()
        if source and source not in document_ids:
            raise QuestionsError(f"{where}: source_document {source!r} is not in the documents folder")
        kind = str(row.get("kind") or "").strip() or "answerable"
        records.append({"id": qid, "question": str(row["question"]).strip(),
                        "reference_answer": str(row["reference_answer"]).strip(),
                        "key_facts": _facts(row.get("key_facts"), where), "kind": kind, "split": split or None,
                        "source_doc_id": source or None, "fact_id": str(row.get("group") or "").strip() or qid})
    pairs = pd.DataFrame(records, columns=PAIR_COLUMNS)
    pairs.attrs["grouped"] = "group" in columns
    return pairs


def _fill(units: list[str], sizes: pd.Series, wanted: dict[str, int]) -> dict[str, str]:
    """Whole units (groups, or documents), in order, to test and then validation until each holds its wanted
    number of pairs."""
    placed = {}
    for unit in units:
        split = next((s for s in ("test", "validation") if wanted[s] > 0), None)
        if split is None:
            break
        placed[unit] = split
        wanted[split] -= int(sizes[unit])
    return placed


def assign_splits(pairs: pd.DataFrame, n_validation: int, n_test: int, seed: int) -> pd.DataFrame:
    """Splits for a file that gives none, by document, so that both strata reach the test set: the probes go to
    test; the documents, in a seeded order, are held out whole (their pairs `unseen`) until half of the test and
    validation sizes is reached or half of the documents are out; then groups on the other documents, in a seeded
    order, fill the other half (`seen`: their documents keep training pairs); the rest is train. A group (a pair
    and its paraphrases) is never split."""
    pairs = pairs.copy()
    probe = pairs["kind"] == UNANSWERABLE
    answerable = pairs[~probe]
    rng = random.Random(seed)
    documents = sorted(answerable["source_doc_id"].dropna().unique())
    rng.shuffle(documents)
    held = _fill(documents[: len(documents) // 2], answerable.groupby("source_doc_id").size(),
                 {"test": n_test // 2, "validation": n_validation // 2})
    split = answerable["source_doc_id"].map(held)
    rest = sorted(set(answerable.loc[split.isna(), "fact_id"]))
    rng.shuffle(rest)
    seen = _fill(rest, answerable.groupby("fact_id").size(),
                 {"test": n_test - n_test // 2, "validation": n_validation - n_validation // 2})
    pairs.loc[~probe, "split"] = split.fillna(answerable["fact_id"].map(seen)).fillna("train")
    pairs.loc[probe, "split"] = "test"
    return pairs


def to_qa_set(pairs: pd.DataFrame, documents: pd.DataFrame) -> pd.DataFrame:
    """The pairs in the study's Q&A schema (QA_COLUMNS), with the strata the module docstring defines."""
    train = pairs[pairs["split"] == "train"]
    covered_groups, covered_documents = set(train["fact_id"]), set(train["source_doc_id"].dropna())
    grouped = pairs.attrs.get("grouped", False)
    service = documents.set_index("doc_id")["service"]

    def stratum(row) -> str:
        if row["split"] == "train":
            return "train"
        if row["kind"] == UNANSWERABLE:
            return UNANSWERABLE
        covered = row["fact_id"] in covered_groups if grouped else row["source_doc_id"] in covered_documents
        return "seen" if covered else "unseen"

    qa = pairs.assign(
        stratum=pairs.apply(stratum, axis=1), fact_type=pairs["kind"].str.replace(" ", "_"),
        service=pairs["source_doc_id"].map(service).fillna(""), operation=None, parameter=None,
        phrasing=pairs.groupby("fact_id").cumcount())
    return qa[QA_COLUMNS].reset_index(drop=True)


def check_sizes(qa: pd.DataFrame, path: Path | str, models: list[str] = ()) -> None:
    """Nova's limits on the training file (each of `models`' own least, where it has one) and the study's need
    for both strata, with the file named."""
    counts = {split: int((qa["split"] == split).sum()) for split in SPLITS}
    if counts["train"] > MAX_TRAIN:
        raise QuestionsError(f"{path}: {counts['train']} training pairs; a Nova customization job takes at most "
                             f"{MAX_TRAIN:,}: move some to validation or test, or split the study")
    if counts["train"] < 8 or counts["validation"] < 8 or counts["test"] < 2:
        raise QuestionsError(f"{path}: {counts} pairs per split; the study needs at least 8 train (Nova's "
                             "least), 8 validation and 2 test: add pairs")
    short = short_of_training_records(list(models), counts["train"])
    if short:
        needs = ", ".join(f"{m} needs at least {least}" for m, least in short.items())
        raise QuestionsError(f"{path}: {counts['train']} training pairs, but {needs} (AWS's Nova dataset "
                             f"validator): add training pairs, or leave out {', '.join(short)} (`models`)")


def check_reserved_words(pairs: pd.DataFrame, path: Path | str) -> None:
    """The training and validation pairs go into Nova files, where a reserved word (`User:`, `[EOS]`, ... in
    any letter case) fails the customization job: each such row is named, with the word and the column."""
    taught = pairs[pairs["split"].isin(["train", "validation"])]
    found = [f"row {n + 1} ({split}) {column}: {', '.join(repr(w) for w in words)}"
             for n, split, question, answer in zip(taught.index, taught["split"], taught["question"],
                                                   taught["reference_answer"])
             for column, words in (("question", reserved_words_in(question)),
                                   ("reference_answer", reserved_words_in(answer))) if words]
    if found:
        more = f"; and {len(found) - 5} more" if len(found) > 5 else ""
        raise QuestionsError(f"{path}: {len(found)} value(s) hold a word that fails a Nova customization job "
                             f"({'; '.join(found[:5])}{more}): reword them, or put those pairs in test")


def write_questions(qa: pd.DataFrame, path: Path) -> Path:
    """The Q&A set as the CSV `read_questions` reads back to the same set (groups kept, so the strata too)."""
    shown = pd.DataFrame({
        "id": qa["id"], "question": qa["question"], "reference_answer": qa["reference_answer"],
        "key_facts": qa["key_facts"].map(lambda facts: json.dumps(list(facts))), "kind": qa["kind"],
        "split": qa["split"], "source_document": qa["source_doc_id"].map(lambda d: f"{d}.md"), "group": qa["fact_id"]})
    path.parent.mkdir(parents=True, exist_ok=True)
    shown.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return path
