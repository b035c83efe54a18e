"""The offline knowledge base: chunks in LanceDB, searched by BM25, by vector, or both fused.

LanceDB is embedded (a folder on disk, no server), has native BM25 full-text search and a
built-in hybrid query fused by reciprocal rank fusion, which is what Bedrock Knowledge Bases
offer as hybrid search. The `Retriever` protocol is all the rest of the study sees, so the
Bedrock knowledge base plugs in beside it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

import lancedb
import numpy as np
import pandas as pd
import pyarrow as pa
from lancedb.index import FTS
from lancedb.rerankers import RRFReranker

from nova_lab.core.caching import fingerprint, open_sqlite_cache
from nova_lab.retrieval.embeddings import DIMENSIONS

Mode = Literal["hybrid", "keyword", "vector"]
MODES: tuple[Mode, ...] = ("hybrid", "keyword", "vector")
TABLE = "chunks"


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    doc_id: str
    text: str
    score: float  # higher is better; the scale depends on the mode


class Retriever(Protocol):
    def retrieve(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Passage]: ...


def build_table(folder: Path, chunks: pd.DataFrame, vectors: np.ndarray) -> None:
    """Write the chunk table with its vectors and a BM25 index, replacing any earlier one: its folder is removed
    first, so a damaged earlier version is neither read nor kept beside the new one."""
    shutil.rmtree(folder, ignore_errors=True)
    schema = pa.schema([
        ("chunk_id", pa.string()), ("doc_id", pa.string()), ("text", pa.string()),
        ("vector", pa.list_(pa.float32(), DIMENSIONS)),
    ])
    data = pa.Table.from_pandas(chunks[["chunk_id", "doc_id", "text"]], preserve_index=False).append_column(
        "vector", pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), DIMENSIONS))
    table = lancedb.connect(folder).create_table(TABLE, data.cast(schema))
    table.create_index("text", config=FTS())


def _passage(hit: dict, score: float) -> Passage:
    return Passage(hit["chunk_id"], hit["doc_id"], hit["text"], float(score))


class LanceKnowledgeBase:
    """Retriever over a LanceDB folder; exact (flat) vector search, fine at tens of thousands of chunks."""

    def __init__(self, folder: Path, embed_query, rrf_k: int = 60):
        self.table = lancedb.connect(folder).open_table(TABLE)
        self.embed_query = embed_query
        self.reranker = RRFReranker(K=rrf_k)

    def retrieve(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        columns = ["chunk_id", "doc_id", "text"]
        if mode == "keyword":
            search = self.table.search(query, query_type="fts").select([*columns, "_score"])
            return [_passage(h, h["_score"]) for h in search.limit(k).to_list()]
        vector = self.embed_query(query)
        if mode == "vector":
            search = self.table.search(vector, query_type="vector").metric("cosine").select([*columns, "_distance"])
            return [_passage(h, 1.0 - h["_distance"]) for h in search.limit(k).to_list()]
        search = (self.table.search(query_type="hybrid").vector(vector).text(query).metric("cosine")
                  .rerank(self.reranker).select(columns))
        return [_passage(h, h["_relevance_score"]) for h in search.limit(k).to_list()]

    def __len__(self) -> int:
        return self.table.count_rows()


class CachedRetriever:
    """A retriever whose results are kept in SQLite by the knowledge base's key, the query, k and the mode.

    The local knowledge base is rebuilt only when its inputs change and then gets a new key, so a stored
    result is the search's result. Step 04 renders its prompts through this: a re-run, and the second model
    on the same questions, search nothing. The latency sample searches through the store itself, uncached.
    """

    def __init__(self, retriever: Retriever, kb_key: str, path: Path):
        self.retriever, self.kb_key = retriever, kb_key
        self.connection = open_sqlite_cache(
            path, "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, passages TEXT)")

    def retrieve(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        key = fingerprint(self.kb_key, query, k, mode)
        row = self.connection.execute("SELECT passages FROM results WHERE key = ?", (key,)).fetchone()
        if row:
            return [Passage(**p) for p in json.loads(row[0])]
        passages = self.retriever.retrieve(query, k, mode)
        with self.connection:
            self.connection.execute("INSERT OR REPLACE INTO results VALUES (?, ?)",
                                    (key, json.dumps([asdict(p) for p in passages])))
        return passages
