"""Leakage between the training data and the held-out questions.

Exact leakage (a held-out question's text is in the training data) must be zero. Near
duplicates are reported, not hidden: templated questions about different facts look alike
("... of Amazon SQS?" / "... of Amazon SNS?"), so the rate says how much a score could owe to
wording rather than knowledge.
"""

from __future__ import annotations

import pandas as pd
from rapidfuzz import fuzz, process, utils

NEAR_DUPLICATE = 90  # rapidfuzz token_sort_ratio, 0-100


def nearest_train_similarity(questions: list[str], train: list[str]) -> list[float]:
    scores = process.cdist(questions, train, scorer=fuzz.token_sort_ratio, processor=utils.default_process, workers=-1)
    return scores.max(axis=1).tolist()


def leakage_report(qa: pd.DataFrame, threshold: float = NEAR_DUPLICATE) -> pd.DataFrame:
    train = qa[qa["split"] == "train"]
    held = qa[qa["split"] != "train"].copy()
    train_texts = set(train["question"].map(utils.default_process))
    held["exact_in_train"] = held["question"].map(utils.default_process).isin(train_texts)
    held["nearest_similarity"] = nearest_train_similarity(held["question"].tolist(), train["question"].tolist())
    held["near_duplicate"] = held["nearest_similarity"] >= threshold
    held["fact_in_train"] = held["fact_id"].isin(set(train["fact_id"]))
    return (
        held.groupby(["split", "stratum"])
        .agg(questions=("id", "size"), exact_in_train=("exact_in_train", "sum"),
             near_duplicate_rate=("near_duplicate", "mean"), fact_in_train_rate=("fact_in_train", "mean"),
             median_similarity=("nearest_similarity", "median"))
        .reset_index()
    )
