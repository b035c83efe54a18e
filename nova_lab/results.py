"""Where a model's results live (answers, latencies, judgments) and the four configurations.

Kept apart from inference so that judging and analysis read results without importing torch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nova_lab import paths
from nova_lab.records import RecordStore

CONFIGURATIONS = ("base", "rag", "ft", "ft_rag")


def uses_adapter(configuration: str) -> bool:
    return configuration.startswith("ft")


def uses_rag(configuration: str) -> bool:
    return configuration.endswith("rag")


def in_order(present: set[str] | pd.Index) -> list[str]:
    """The configurations present, in the study's order."""
    return [c for c in CONFIGURATIONS if c in set(present)]


def model_dir(run_name: str, model: str) -> Path:
    return paths.run_dir(run_name, model)


def answers_path(run_name: str, model: str) -> Path:
    return model_dir(run_name, model) / "answers.jsonl"


def latency_path(run_name: str, model: str) -> Path:
    return model_dir(run_name, model) / "latency.jsonl"


def judgments_path(run_name: str, model: str) -> Path:
    return model_dir(run_name, model) / "judgments.jsonl"


def meta_eval_path(run_name: str, model: str) -> Path:
    return model_dir(run_name, model) / "meta_eval.parquet"


def meta_eval_judgments_path(run_name: str) -> Path:
    """The check set is the same for every model, so its verdicts are kept once per run."""
    return paths.run_dir(run_name) / "meta_eval_judgments.jsonl"


def read_answers(run_name: str, model: str, questions: pd.DataFrame) -> pd.DataFrame:
    """The current answer to each of these questions in each configuration."""
    return _current(_read(answers_path(run_name, model), run_name, model), questions)


def read_latency(run_name: str, model: str, questions: pd.DataFrame) -> pd.DataFrame:
    """The current timed request for each of these questions in each configuration."""
    return _current(_read(latency_path(run_name, model), run_name, model), questions)


def _current(records: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    # the stores only grow: a run with other settings adds answers beside the old ones; the last one counts
    records = records[records["question_id"].isin(questions["id"])]
    return records.drop_duplicates(["question_id", "configuration"], keep="last").reset_index(drop=True)


def _read(path: Path, run_name: str, model: str) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebooks/04_inference.ipynb with "
                                f"run_name={run_name!r}, model={model!r} first")
    return RecordStore(path).frame()
