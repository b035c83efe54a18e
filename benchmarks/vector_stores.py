"""Benchmark embedded vector stores for a hybrid (BM25 + vector) knowledge base.

Stores compared (each persisted to a temp dir, queried top-10):
  lancedb       LanceDB native FTS index + flat (exact) vector scan, built-in hybrid query + RRFReranker
  faiss+bm25s   faiss IndexFlatIP + bm25s (saved to disk with the corpus), reciprocal rank fusion by hand
  sqlite-vec    sqlite-vec vec0 (exact KNN) + SQLite FTS5 in one file via apsw, RRF by hand
Hybrid = RRF (k=60) over the top-10 of each leg, as LanceDB does. Build time includes insert, FTS index,
vector index and (faiss+bm25s) the save to disk. pip MB = installed files of the store's distributions
and their dependencies, numpy excluded.

Corpus (no download): docs of botocore's bundled AWS service models, HTML stripped, cut into 150-word
passages (half-overlapping windows are added only past ~41k passages). Vectors: 384-d float32 from 200
seeded gaussian clusters; the embedding model is not what is compared. A query = a passage's first 12
words + a noisy copy of its vector; recall@10 = share of hybrid top-10s that hold the query's own passage.

Install the extras (no torch needed) and run:
  pip install lancedb==0.40.0 faiss-cpu bm25s sqlite-vec apsw numpy boto3
  python benchmarks/vector_stores.py --n-docs 10000 --queries 200
A store whose packages cannot be imported is skipped with the reason printed.
"""
from __future__ import annotations

import argparse
import html
import importlib.metadata as md
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

DIM, K, RRF_K, CLUSTERS, DOC_NOISE, QUERY_NOISE = 384, 10, 60, 200, 0.8, 4.0
Search = Callable[[str, np.ndarray], list[int]]
Store = tuple[Search, Search, Search]  # keyword, vector, hybrid
PACKAGES = {"lancedb": ["lancedb"], "faiss+bm25s": ["faiss-cpu", "bm25s"], "sqlite-vec": ["sqlite-vec", "apsw"]}


def corpus(n: int, rng: np.random.Generator) -> list[str]:
    import botocore.loaders
    loader, streams = botocore.loaders.create_loader(), []
    for name in loader.list_available_services("service-2"):
        model = loader.load_service_model(name, "service-2")
        docs = [op.get("documentation", "") for op in model.get("operations", {}).values()]
        for shape in model.get("shapes", {}).values():
            docs += [m.get("documentation", "") for m in shape.get("members", {}).values()]
        streams.append(html.unescape(re.sub(r"<[^>]+>", " ", " ".join(docs))).split())
    out: list[str] = []
    for offset in (0, 75):
        windows = [" ".join(w[i:i + 150]) for w in streams for i in range(offset, len(w) - 149, 150)]
        out += [windows[i] for i in rng.permutation(len(windows))]
        if len(out) >= n:
            return out[:n]
    raise SystemExit(f"corpus has only {len(out)} passages")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def rrf(*ranked: list[int]) -> list[int]:
    score: dict[int, float] = {}
    for ids in ranked:
        for rank, i in enumerate(ids, 1):
            score[i] = score.get(i, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(score, key=score.__getitem__, reverse=True)[:K]


def lancedb_store(d: Path, texts: list[str], vecs: np.ndarray) -> Store:
    import lancedb
    import pyarrow as pa
    from lancedb.index import FTS
    from lancedb.rerankers import RRFReranker
    vcol = pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), DIM)
    tbl = lancedb.connect(d).create_table("kb", pa.table({"id": np.arange(len(texts)), "text": texts, "vector": vcol}))
    tbl.create_index("text", config=FTS())  # native FTS (0.40: create_fts_index is deprecated, tantivy removed)
    rr = RRFReranker(K=RRF_K)
    ids: Callable[[pa.Table], list[int]] = lambda t: t["id"].to_pylist()
    return (lambda q, v: ids(tbl.search(q, query_type="fts").select(["id"]).limit(K).to_arrow()),
            lambda q, v: ids(tbl.search(v).select(["id"]).limit(K).to_arrow()),
            lambda q, v: ids(tbl.search(query_type="hybrid").vector(v).text(q).rerank(rr)
                             .select(["id"]).limit(K).to_arrow()))


def faiss_bm25s_store(d: Path, texts: list[str], vecs: np.ndarray) -> Store:
    import bm25s
    import faiss
    index = faiss.IndexFlatIP(DIM)
    index.add(vecs)
    bm = bm25s.BM25()
    bm.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    faiss.write_index(index, str(d / "vectors.faiss"))
    bm.save(str(d / "bm25"), corpus=texts, show_progress=False)
    kw: Search = lambda q, v: bm.retrieve(bm25s.tokenize([q], stopwords="en", return_ids=False, show_progress=False),
                                          k=K, show_progress=False)[0][0].tolist()
    vs: Search = lambda q, v: index.search(v[None], K)[1][0].tolist()
    return kw, vs, lambda q, v: rrf(vs(q, v), kw(q, v))


def sqlite_vec_store(d: Path, texts: list[str], vecs: np.ndarray) -> Store:
    import apsw
    import sqlite_vec
    con = apsw.Connection(str(d / "kb.db"))
    con.enable_load_extension(True)
    con.load_extension(sqlite_vec.loadable_path())
    con.execute("CREATE VIRTUAL TABLE fts USING fts5(text, tokenize='porter unicode61')")
    con.execute(f"CREATE VIRTUAL TABLE vec USING vec0(embedding float[{DIM}])")
    with con:
        con.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", ((i + 1, t) for i, t in enumerate(texts)))
        con.executemany("INSERT INTO vec(rowid, embedding) VALUES (?, ?)", ((i + 1, v.tobytes()) for i, v in enumerate(vecs)))
    con.execute("INSERT INTO fts(fts) VALUES('optimize')")
    match = lambda q: " OR ".join(f'"{w}"' for w in re.findall(r"\w+", q))
    kw: Search = lambda q, v: [r[0] - 1 for r in con.execute(
        "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (match(q), K))]
    vs: Search = lambda q, v: [r[0] - 1 for r in con.execute(
        "SELECT rowid FROM vec WHERE embedding MATCH ? AND k = ? ORDER BY distance", (v.tobytes(), K))]
    return kw, vs, lambda q, v: rrf(vs(q, v), kw(q, v))


def pip_mb(names: list[str]) -> float:
    seen, todo, total = {"numpy"}, [n.lower() for n in names], 0
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        total += sum(p.stat().st_size for f in dist.files or [] if (p := Path(str(f.locate()))).is_file())
        todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0].lower().replace("_", "-")
                 for r in dist.requires or [] if "extra ==" not in r]
    return total / 2**20


def timed(fn: Search, queries: list[tuple[str, np.ndarray, int]]) -> tuple[float, float, list[list[int]]]:
    for text, vec, _ in queries[:10]:
        fn(text, vec)
    ms, hits = [], []
    for text, vec, _ in queries:
        t0 = time.perf_counter()
        hits.append(fn(text, vec))
        ms.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-docs", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    texts = corpus(args.n_docs, rng)
    centers = unit(rng.standard_normal((CLUSTERS, DIM)))
    noise = lambda n: rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    vecs = unit(centers[rng.integers(0, CLUSTERS, len(texts))] + DOC_NOISE * noise(len(texts)))
    q_idx = rng.choice(len(texts), args.queries, replace=False)
    q_vecs = unit(vecs[q_idx] + QUERY_NOISE * noise(args.queries))
    queries = [(" ".join(texts[i].split()[:12]), q_vecs[j], int(i)) for j, i in enumerate(q_idx)]
    print(f"\n{len(texts)} docs x {DIM}-d, {len(queries)} queries, top-{K}, RRF k={RRF_K}; latency p50/p95 ms\n")
    print("| store | build s | disk MB | keyword p50/p95 | vector p50/p95 | hybrid p50/p95 | hybrid recall@10 | pip MB |")
    print("|---|---|---|---|---|---|---|---|")
    stores = {"lancedb": lancedb_store, "faiss+bm25s": faiss_bm25s_store, "sqlite-vec": sqlite_vec_store}
    for name, build in stores.items():
        with tempfile.TemporaryDirectory(prefix="vsbench-") as tmp:
            try:
                t0 = time.perf_counter()
                kw, vs, hy = build(Path(tmp), texts, vecs)
                build_s = time.perf_counter() - t0
            except ImportError as e:
                print(f"| {name} | skipped: {e} |")
                continue
            disk = int(subprocess.run(["du", "-sk", tmp], capture_output=True, text=True).stdout.split()[0]) / 1024
            (k50, k95, _), (v50, v95, _), (h50, h95, hits) = (timed(f, queries) for f in (kw, vs, hy))
            recall = np.mean([q[2] in h for q, h in zip(queries, hits)])
            print(f"| {name} | {build_s:.1f} | {disk:.1f} | {k50:.1f} / {k95:.1f} | {v50:.1f} / {v95:.1f} "
                  f"| {h50:.1f} / {h95:.1f} | {recall:.3f} | {pip_mb(PACKAGES[name]):.0f} |")


if __name__ == "__main__":
    main()
