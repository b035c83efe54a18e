"""Records on disk (answers, latencies, judgments): append-only JSONL, keyed by everything a record depends on.

A run appends each batch as it finishes (flushed and synced), so a killed run loses at most
the batch in flight; the next run reads the keys present and asks only for the rest. A line
torn by a crash is cut off before the next append (so the next record never lands on it);
any other unreadable line is skipped with a warning that names the file and the line, so the
record it held is simply made again. A key written twice is kept once.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Iterable

import pandas as pd

ANSWER_COLUMNS = [
    "key", "question_id", "model", "configuration", "answer", "input_tokens", "output_tokens", "total_tokens",
    "latency_ms", "batch_size", "stopped", "retrieved_chunk_ids", "retrieved_scores", "prompt_version",
    "adapter_key", "max_new_tokens", "backend",
]


def answer_record(*, key: str, question_id: str, model: str, configuration: str, answer: str, input_tokens: int,
                  output_tokens: int, latency_ms: float | None, batch_size: int, stopped: bool, passages: Iterable,
                  adapter_key: str | None, max_new_tokens: int, backend: str, prompt_version: str) -> dict:
    """One answer as both backends store it (ANSWER_COLUMNS): the record is built here and nowhere else."""
    passages = list(passages)
    return {
        "key": key, "question_id": question_id, "model": model, "configuration": configuration, "answer": answer,
        "input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens,
        "latency_ms": latency_ms, "batch_size": batch_size, "stopped": stopped,
        "retrieved_chunk_ids": [p.chunk_id for p in passages], "retrieved_scores": [p.score for p in passages],
        "prompt_version": prompt_version, "adapter_key": adapter_key, "max_new_tokens": max_new_tokens,
        "backend": backend,
    }


class UnreadableRecordWarning(UserWarning):
    """A line of a record store that is not a JSON object with a `key`: skipped, its record made again."""


class RecordStore:
    def __init__(self, path: Path, columns: list[str] = ANSWER_COLUMNS):
        self.path = path
        self.columns = columns
        path.parent.mkdir(parents=True, exist_ok=True)

    def _records(self) -> Iterable[dict]:
        if not self.path.exists():
            return
        lines = self.path.read_bytes().split(b"\n")
        torn_tail = lines.pop()  # b"" when the file ends with a newline; else a line a crash cut short
        problems = []
        for number, line in enumerate(lines, start=1):
            record, problem = _parse(line)
            if problem:
                problems.append(f"line {number} ({problem})")
            elif record is not None:
                yield record
        last = _parse(torn_tail)[0]
        if last is not None:
            yield last  # a whole record whose newline was lost
        if problems:
            warnings.warn(f"{self.path}: skipped {len(problems)} unreadable line(s), whose records will be made "
                          f"again: {', '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}",
                          UnreadableRecordWarning, stacklevel=3)

    def keys(self) -> set[str]:
        return {record["key"] for record in self._records()}

    def repair_tail(self) -> None:
        """End a last line that a crash left without its newline: a whole record keeps its line, a torn one is
        cut off, so the next append starts on a line of its own."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            start = data.rfind(b"\n") + 1
            if _parse(data[start:])[0] is not None:
                handle.write(b"\n")
            else:
                handle.truncate(start)

    def append(self, records: list[dict]) -> None:
        self.repair_tail()
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:  # a full disk: say which file (a write on an open file names none); the next append repairs
            raise OSError(exc.errno, exc.strerror, str(self.path)) from exc

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(list(self._records()), columns=self.columns)
        return frame.drop_duplicates("key", keep="last").reset_index(drop=True)


def _parse(line: bytes) -> tuple[dict | None, str | None]:
    """A line as a record, or what is wrong with it; a blank line is neither."""
    if not line.strip():
        return None, None
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg}"
    if not isinstance(record, dict) or "key" not in record:
        return None, 'no "key"'
    return record, None
