"""Records on disk (answers, latencies, judgments): append-only JSONL, keyed by everything a record depends on.

A run appends each batch as it finishes (flushed and synced), so a killed run loses at most
the batch in flight; the next run reads the keys present and asks only for the rest. A line
torn by a crash is skipped; a key written twice is kept once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import pandas as pd

ANSWER_COLUMNS = [
    "key", "question_id", "model", "configuration", "answer", "input_tokens", "output_tokens", "total_tokens",
    "latency_ms", "batch_size", "stopped", "retrieved_chunk_ids", "retrieved_scores", "prompt_version",
    "adapter_key", "max_new_tokens", "backend",
]


class RecordStore:
    def __init__(self, path: Path, columns: list[str] = ANSWER_COLUMNS):
        self.path = path
        self.columns = columns
        path.parent.mkdir(parents=True, exist_ok=True)

    def _records(self) -> Iterable[dict]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # the torn last line of a killed run

    def keys(self) -> set[str]:
        return {record["key"] for record in self._records()}

    def append(self, records: list[dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            handle.flush()
            os.fsync(handle.fileno())

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(list(self._records()), columns=self.columns)
        return frame.drop_duplicates("key", keep="last").reset_index(drop=True)
