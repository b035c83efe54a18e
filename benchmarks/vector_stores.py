"""Benchmark embedded vector stores for a hybrid (BM25 + vector) knowledge base, on this machine.

lancedb: native FTS index + flat vector scan + built-in hybrid query with RRFReranker. faiss+bm25s: IndexFlatIP +
bm25s, saved to disk with the corpus. sqlite-vec: vec0 (exact KNN) + FTS5 in one SQLite file via apsw. Hybrid is
RRF (k=60) over each leg's top 10 (by hand for the last two). Build s = insert + FTS + vector index (+ save).
pip MB = installed files of the store's distributions and their dependencies, numpy excluded. Corpus, no download:
botocore's bundled service-model docs, HTML stripped, 150-word passages (half-overlapping windows past ~41k).
Vectors: 384-d float32 from 200 seeded gaussian clusters. Query = a passage's first 12 words + a noisy copy of its
vector; R@10 = share of queries whose own passage is in the top 10 (hybrid, then keyword/vector legs).

  pip install lancedb==0.40.0 faiss-cpu bm25s sqlite-vec apsw numpy boto3   # no torch needed
  python benchmarks/vector_stores.py --n-docs 10000 --queries 200
A store whose packages cannot be imported is skipped with the reason printed.
"""
import argparse
import html
import importlib
import importlib.metadata as md
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

DIM, K, RRF_K, CLUSTERS, DOC_NOISE, QUERY_NOISE = 384, 10, 60, 200, 0.8, 4.0
Search = Callable[[str, np.ndarray], list[int]]
Store = tuple[Search, Search, Search]  # keyword, vector, hybrid
PACKAGES = {"lancedb": ["lancedb"], "faiss+bm25s": ["faiss-cpu", "bm25s"], "sqlite-vec": ["sqlite-vec", "apsw"]}
MODULES = {"lancedb": ["lancedb", "pyarrow"], "faiss+bm25s": ["faiss", "bm25s"], "sqlite-vec": ["sqlite_vec", "apsw"]}
os.environ.setdefault("LANCEDB_LOG", "error")  # silence lance's per-query deprecation warnings


def corpus(n: int, rng: np.random.Generator) -> list[str]:
    import botocore.loaders
    loader, streams = botocore.loaders.create_loader(), []
    for name in loader.list_available_services("service-2"):
        model = loader.load_service_model(name, "service-2")
        docs = [op.get("documentation", "") for op in model.get("operations", {}).values()] + [
            m.get("documentation", "") for s in model.get("shapes", {}).values() for m in s.get("members", {}).values()]
        streams.append(html.unescape(re.sub(r"<[^>]+>", " ", " ".join(docs))).split())
    out: list[str] = []
    for offset in (0, 75):
        windows = [" ".join(w[i:i + 150]) for w in streams for i in range(offset, len(w) - 149, 150)]
        out += [windows[i] for i in rng.permutation(len(windows))]
        if len(out) >= n:
            return out[:n]
    raise SystemExit(f"corpus has only {len(out)} passages")


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
    ids = lambda t: t["id"].to_pylist()
    return (lambda q, v: ids(tbl.search(q, query_type="fts").select(["id"]).limit(K).to_arrow()),
            lambda q, v: ids(tbl.search(v).select(["id"]).limit(K).to_arrow()),
            lambda q, v: ids(tbl.search(query_type="hybrid").vector(v).text(q).rerank(rr)
                             .select(["id"]).limit(K).to_arrow()))


def faiss_bm25s_store(d: Path, texts: list[str], vecs: np.ndarray) -> Store:
    import bm25s
    import faiss
    index, bm = faiss.IndexFlatIP(DIM), bm25s.BM25()
    index.add(vecs)
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
    with con:  # one transaction; rowid = id + 1
        con.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", ((i + 1, t) for i, t in enumerate(texts)))
        con.executemany("INSERT INTO vec(rowid, embedding) VALUES (?, ?)", ((i + 1, v) for i, v in enumerate(vecs)))
    con.execute("INSERT INTO fts(fts) VALUES('optimize')")
    match = lambda q: " OR ".join(f'"{w}"' for w in re.findall(r"\w+", q))
    kw: Search = lambda q, v: [r[0] - 1 for r in con.execute(
        "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (match(q), K))]
    vs: Search = lambda q, v: [r[0] - 1 for r in con.execute(
        "SELECT rowid FROM vec WHERE embedding MATCH ? AND k = ? ORDER BY distance", (v.tobytes(), K))]
    return kw, vs, lambda q, v: rrf(vs(q, v), kw(q, v))


def pip_mb(names: list[str]) -> float:
    key = lambda req: re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0].lower().replace("_", "-")
    installed = {key(d.metadata["Name"]): d for d in md.distributions()}
    seen, todo, total = {"numpy"}, list(names), 0
    while todo:
        if (name := key(todo.pop())) in seen or name not in installed:
            continue
        seen.add(name)
        dist = installed[name]
        total += sum(p.stat().st_size for f in dist.files or [] if (p := Path(str(f.locate()))).is_file())
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
    return total / 2**20


def timed(fn: Search, queries: list[tuple[str, np.ndarray, int]]) -> tuple[float, float, list[list[int]]]:
    for text, vec, _ in queries[:10]:  # warm-up
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
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    texts = corpus(args.n_docs, rng)
    centers = unit(rng.standard_normal((CLUSTERS, DIM)))
    noise = lambda n: rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    vecs = unit(centers[rng.integers(0, CLUSTERS, len(texts))] + DOC_NOISE * noise(len(texts)))
    q_idx = rng.choice(len(texts), args.queries, replace=False)
    q_vecs = unit(vecs[q_idx] + QUERY_NOISE * noise(args.queries))
    queries = [(" ".join(texts[i].split()[:12]), q_vecs[j], int(i)) for j, i in enumerate(q_idx)]
    print(f"\n{len(texts)} docs x {DIM}-d, {len(queries)} queries, top-{K}, RRF k={RRF_K}; latency p50/p95 ms\n\n"
          "| store | build s | disk MB | keyword p50/p95 | vector p50/p95 | hybrid p50/p95 | R@10 hybrid (kw/vec) "
          "| pip MB |\n|---|---|---|---|---|---|---|---|")
    stores = {"lancedb": lancedb_store, "faiss+bm25s": faiss_bm25s_store, "sqlite-vec": sqlite_vec_store}
    for name, build in stores.items():
        try:  # import before the clock starts
            [importlib.import_module(m) for m in MODULES[name]]
        except ImportError as e:
            print(f"| {name} | skipped: cannot import ({e}) |")
            continue
        with tempfile.TemporaryDirectory(prefix="vsbench-") as tmp:
            t0 = time.perf_counter()
            kw, vs, hy = build(Path(tmp), texts, vecs)
            build_s = time.perf_counter() - t0
            disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
            (k50, k95, kh), (v50, v95, vh), (h50, h95, hh) = (timed(f, queries) for f in (kw, vs, hy))
            r = [np.mean([q[2] in h for q, h in zip(queries, hits)]) for hits in (hh, kh, vh)]
            print(f"| {name} | {build_s:.1f} | {disk:.1f} | {k50:.2f} / {k95:.2f} | {v50:.2f} / {v95:.2f} "
                  f"| {h50:.2f} / {h95:.2f} | {r[0]:.3f} ({r[1]:.3f}/{r[2]:.3f}) | {pip_mb(PACKAGES[name]):.0f} |")


if __name__ == "__main__":
    main()
