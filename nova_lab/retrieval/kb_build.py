"""Step 02: chunk, embed and index the corpus under outputs/<run>/kb (rebuilt only when its inputs change)."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from nova_lab.core import artefacts, paths
from nova_lab.core.caching import fingerprint, fresh_manifest, write_manifest
from nova_lab.core.params import KnowledgeBaseParams
from nova_lab.data.data_prep import documents_key, read_documents
from nova_lab.retrieval import chunking, embeddings
from nova_lab.retrieval.knowledge_base import CachedRetriever, LanceKnowledgeBase, build_table

KB_VERSION = 1  # bump when chunking or the table layout changes


def kb_dir(run_name: str) -> Path:
    return artefacts.path(artefacts.KB, run_name)


def folder_size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def build(cfg: KnowledgeBaseParams) -> dict:
    """Build the knowledge base unless one from the same inputs exists; returns its manifest."""
    folder = kb_dir(cfg.run_name)
    key = fingerprint(KB_VERSION, documents_key(cfg.run_name), embeddings.MODEL_ID, cfg.chunk_tokens, cfg.chunk_overlap)
    if (kept := fresh_manifest(folder, key)) is not None:
        return kept | {"reused": True}
    started = time.perf_counter()
    chunks = chunking.chunk_documents(read_documents(cfg.run_name), embeddings.tokenizer(),
                                      cfg.chunk_tokens, cfg.chunk_overlap)
    chunks.to_parquet(folder / "chunks.parquet")
    chunked = time.perf_counter()
    vectors = embeddings.embed(chunks["text"].tolist(), embeddings.default_cache(), cfg.embedding_batch_size)
    embedded = time.perf_counter()
    build_table(folder / "lancedb", chunks, vectors)
    manifest = {
        "key": key, "chunks": len(chunks), "documents": int(chunks["doc_id"].nunique()),
        "embedding_model": embeddings.MODEL_ID, "chunk_tokens": cfg.chunk_tokens, "chunk_overlap": cfg.chunk_overlap,
        "chunk_seconds": round(chunked - started, 2), "embed_seconds": round(embedded - chunked, 2),
        "index_seconds": round(time.perf_counter() - embedded, 2),
        "index_size_mb": round(folder_size_mb(folder / "lancedb"), 1),
    }
    write_manifest(folder, manifest)
    return manifest | {"reused": False}


def read_chunks(run_name: str) -> pd.DataFrame:
    return pd.read_parquet(artefacts.require(artefacts.KB, run_name, inside="chunks.parquet"))


def open_knowledge_base(run_name: str, rrf_k: int = 60) -> LanceKnowledgeBase:
    artefacts.require_complete(artefacts.KB, run_name)
    return LanceKnowledgeBase(kb_dir(run_name) / "lancedb", lambda query: embeddings.embed([query], progress=False)[0], rrf_k)


def search_key(run_name: str, rrf_k: int) -> str:
    """What a search's result depends on beside the query: the built knowledge base and the fusion's `rrf_k`."""
    return fingerprint(artefacts.require_complete(artefacts.KB, run_name)["key"], rrf_k)


def open_kept(run_name: str, rrf_k: int = 60) -> CachedRetriever:
    """The knowledge base with its search results kept by `search_key`; `.retriever` searches every time."""
    return CachedRetriever(open_knowledge_base(run_name, rrf_k), search_key(run_name, rrf_k),
                           paths.cache_dir("retrieval") / "results.sqlite")
