"""Step 01: corpus, Q&A set, Nova training files, leakage, written under outputs/<run>/data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nova_lab.core import artefacts, paths
from nova_lab.core.caching import file_digest, fingerprint, is_fresh, write_manifest
from nova_lab.core.params import DataPrepParams
from nova_lab.data import documents as own_documents
from nova_lab.data import nova_format
from nova_lab.data import questions as own_questions
from nova_lab.data.corpus import Corpus, Fact, botocore_version, extract_corpus
from nova_lab.data.leakage import leakage_report
from nova_lab.data.qa import GENERATORS, QAGenerator, SplitSizes, answerable, build_qa_set

CORPUS_VERSION = 3  # bump when the extraction changes what it writes


def data_dir(run_name: str) -> Path:
    return artefacts.path(artefacts.DATA, run_name)


def load_corpus(services: list[str]) -> Corpus:
    """The corpus for these services, extracted once per botocore version and service list."""
    key = fingerprint(CORPUS_VERSION, botocore_version(), sorted(services))
    folder = paths.cache_dir("corpus") / key
    if not is_fresh(folder, key):
        folder.mkdir(parents=True, exist_ok=True)
        corpus = extract_corpus(sorted(services))
        corpus.documents.to_parquet(folder / "documents.parquet")
        corpus.facts.to_parquet(folder / "facts.parquet")
        write_manifest(folder, {"key": key, "botocore": botocore_version(), "services": sorted(services)})
    return Corpus(pd.read_parquet(folder / "documents.parquet"), pd.read_parquet(folder / "facts.parquet"))


def study_corpus(cfg: DataPrepParams) -> Corpus:
    """The corpus a study's params name: your documents (`documents`, no botocore facts) or botocore's services."""
    if cfg.documents:
        return Corpus(own_documents.read_folder(paths.PROJ_ROOT / cfg.documents).documents, _no_facts())
    return load_corpus(cfg.services)


def _no_facts() -> pd.DataFrame:
    return pd.DataFrame(columns=list(Fact.__dataclass_fields__))


def from_folder(cfg: DataPrepParams, writer: own_questions.PairWriter | None = None
                ) -> tuple[Corpus, pd.DataFrame, pd.DataFrame]:
    """The user's documents and Q&A pairs (`documents`, and `questions` or pairs `writer` writes from the
    documents), checked whole before anything is written: the corpus (with no botocore facts), the Q&A set in
    the study's schema, and what was read of each file."""
    folder = own_documents.read_folder(paths.PROJ_ROOT / cfg.documents)
    if cfg.questions:
        source = paths.PROJ_ROOT / cfg.questions
        pairs = own_questions.read_questions(source, set(folder.documents["doc_id"]))
    else:  # the params allow it only with a writer (qa_generator: bedrock)
        source = f"the Q&A pairs {writer.name} wrote from {cfg.documents}"
        pairs = writer.write(folder.documents, cfg.n_train + cfg.n_validation + cfg.n_test)
    if pairs["split"].isna().all():
        pairs = own_questions.assign_splits(pairs, cfg.n_validation, cfg.n_test, cfg.seed)
    own_questions.check_reserved_words(pairs, source)
    qa = own_questions.to_qa_set(pairs, folder.documents)
    own_questions.check_sizes(qa, source, cfg.models)
    return Corpus(folder.documents, _no_facts()), qa, folder.report


def build_qa(cfg: DataPrepParams, corpus: Corpus, generator: QAGenerator | None = None) -> pd.DataFrame:
    sizes = SplitSizes(cfg.n_train, cfg.train_phrasings_per_fact, cfg.n_validation, cfg.n_test, cfg.n_probes)
    return build_qa_set(corpus.facts, generator or GENERATORS[cfg.qa_generator](), sizes, cfg.seed)


@dataclass(frozen=True)
class PreparedData:
    folder: str  # where the artefacts are, as `paths.shareable` names it: 01 prints it
    corpus: Corpus
    qa: pd.DataFrame
    leakage: pd.DataFrame
    nova_files: dict[str, Path]
    uploads: dict[str, str] = field(default_factory=dict)  # S3 URIs of the Nova files on `backend: bedrock`
    documents_read: pd.DataFrame | None = None  # with `documents`: what was read of each file, and why not


@dataclass(frozen=True)
class Source:
    """Where a run's corpus and questions came from, as 06 words its limits and its next step."""

    documents: str | None = None  # your folder; None: botocore's service models
    questions: str | None = None  # your Q&A file; None with `documents`: pairs the Q&A model wrote from them

    @property
    def own(self) -> bool:
        return self.documents is not None


def source_of(run_name: str) -> Source:
    """The source step 01 of the run read (its manifest's params)."""
    params = artefacts.require_complete(artefacts.DATA, run_name)["params"]
    return Source(params.get("documents"), params.get("questions"))


def corpus_detail(data: PreparedData) -> pd.DataFrame:
    """What 01 shows under the corpus: the facts by service and type (botocore's corpus), or what was read of
    each of the user's files and why not (a folder of documents has no facts)."""
    if data.documents_read is not None:
        return data.documents_read
    facts = data.corpus.facts
    return facts.pivot_table(index="service", columns="fact_type", values="fact_id", aggfunc="count", fill_value=0)


def nova_file(run_name: str, split: str) -> Path:
    return data_dir(run_name) / "nova" / f"{split}.jsonl"


def prepare(cfg: DataPrepParams, generator: QAGenerator | None = None,
            writer: own_questions.PairWriter | None = None) -> PreparedData:
    """Run step 01 and write its artefacts; the manifest records what they were made from.
    `generator` writes the Q&A pairs when it is not one of the registered offline ones; `writer` writes them
    from your documents when no `questions` file gives them."""
    if cfg.documents:
        corpus, qa, read = from_folder(cfg, writer)
    else:
        corpus, read = load_corpus(cfg.services), None
        qa = build_qa(cfg, corpus, generator)
    folder = data_dir(cfg.run_name)
    if read is not None:
        read.to_parquet(folder / "documents_read.parquet")
    corpus.documents.to_parquet(folder / "documents.parquet")
    corpus.facts.to_parquet(folder / "facts.parquet")
    qa.to_parquet(folder / "qa.parquet")
    files = {split: nova_format.write_jsonl(qa[qa["split"] == split], nova_file(cfg.run_name, split))
             for split in ("train", "validation")}
    leakage = leakage_report(qa)
    write_manifest(folder, {
        "params": cfg.model_dump(), "botocore": botocore_version(), "corpus": corpus.stats(),
        "qa_rows": len(qa), "documents_key": fingerprint(corpus.documents["doc_id"].tolist(),
                                                        corpus.documents["text"].tolist()),
    })
    return PreparedData(paths.shareable(folder), corpus, qa, leakage, files, documents_read=read)


def data_digests(run_name: str) -> dict[str, str]:
    """The Nova files' digests: what a fine-tuning run (local or on Bedrock) is keyed by."""
    return {split: file_digest(nova_file(run_name, split)) for split in ("train", "validation")}


def read_documents(run_name: str) -> pd.DataFrame:
    return _read(run_name, "documents.parquet")


def read_qa(run_name: str) -> pd.DataFrame:
    return _read(run_name, "qa.parquet")


def read_test(run_name: str, probes: bool = True) -> pd.DataFrame:
    """The test questions: answerable ones and, with `probes`, the unanswerable probes (what 04 answers and 05
    judges)."""
    qa = read_qa(run_name)
    test = qa[qa["split"] == "test"]
    return test if probes else answerable(test)


def read_facts(run_name: str) -> pd.DataFrame:
    return _read(run_name, "facts.parquet")


def documents_key(run_name: str) -> str:
    return artefacts.require_complete(artefacts.DATA, run_name)["documents_key"]


def _read(run_name: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(artefacts.require(artefacts.DATA, run_name, inside=name))
