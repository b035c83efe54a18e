"""Retrieval quality on the test questions: does the search find the question's source document?"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from tqdm.auto import tqdm

from nova_lab.core import paths
from nova_lab.core.caching import fingerprint, warn_damaged, write_whole
from nova_lab.retrieval.knowledge_base import MODES, Mode, Retriever

KS = (1, 5, 10)


def rank_of_source(retriever: Retriever, questions: pd.DataFrame, modes: tuple[Mode, ...] = MODES,
                   depth: int = max(KS), search_key: str | None = None) -> pd.DataFrame:
    """One row per question and mode: the 1-based rank of the first chunk of the source
    document (NaN when it is not in the top `depth`) and the query's wall time. With `search_key` (a store
    whose results depend on nothing else, `kb_build.search_key`) the table is kept and a re-run reads it,
    query times included: they are those of the run that searched."""
    if search_key is None:
        return _rank_of_source(retriever, questions, modes, depth)
    file = ranks_file(search_key, questions, modes, depth)
    if file.exists():
        try:
            return pd.read_parquet(file)
        except (OSError, ValueError) as exc:  # damaged since: searched again
            warn_damaged(file, exc)
    ranks = _rank_of_source(retriever, questions, modes, depth)
    write_whole(file, ranks.to_parquet)
    return ranks


def ranks_file(search_key: str, questions: pd.DataFrame, modes: tuple[Mode, ...], depth: int) -> Path:
    """Where the retrieval table of these questions is kept, by all it depends on."""
    asked = questions[["id", "question", "source_doc_id", "stratum"]].to_dict("records")
    return paths.cache_dir("retrieval") / f"ranks-{fingerprint(search_key, asked, modes, depth)}.parquet"


def _rank_of_source(retriever: Retriever, questions: pd.DataFrame, modes: tuple[Mode, ...], depth: int) -> pd.DataFrame:
    rows = []
    for mode in modes:
        for q in tqdm(questions.itertuples(), total=len(questions), desc=f"retrieval: {mode}", unit="q"):
            started = time.perf_counter()
            passages = retriever.retrieve(q.question, depth, mode)
            latency = (time.perf_counter() - started) * 1000
            ranks = [n for n, p in enumerate(passages, 1) if p.doc_id == q.source_doc_id]
            rows.append({"id": q.id, "stratum": q.stratum, "mode": mode,
                         "rank": ranks[0] if ranks else float("nan"), "latency_ms": latency})
    return pd.DataFrame(rows)


def summarize(ranks: pd.DataFrame) -> pd.DataFrame:
    """recall@k and MRR@10 by mode, overall and by stratum, with the p50 query latency."""
    both = pd.concat([ranks.assign(stratum="all"), ranks])
    metrics = {f"recall@{k}": (both["rank"] <= k) for k in KS}
    metrics["MRR"] = (1.0 / both["rank"]).fillna(0.0)
    table = both[["mode", "stratum"]].assign(**metrics, p50_latency_ms=both["latency_ms"])
    aggregations = {name: "mean" for name in metrics} | {"p50_latency_ms": "median"}
    summary = table.groupby(["mode", "stratum"], sort=False).agg(aggregations)
    return summary.join(both.groupby(["mode", "stratum"], sort=False).size().rename("questions")).reset_index()


def plot(summary: pd.DataFrame) -> plt.Figure:
    long = summary.melt(id_vars=["mode", "stratum"], value_vars=[f"recall@{k}" for k in KS] + ["MRR"],
                        var_name="metric", value_name="value")
    grid = sns.catplot(data=long, x="metric", y="value", hue="mode", col="stratum", kind="bar",
                       height=3.2, aspect=1.1, palette="deep")
    grid.set(ylim=(0, 1), xlabel="", ylabel="")
    grid.figure.suptitle("Retrieval of the source document on the test questions", y=1.04)
    return grid.figure
