"""Where a model's results live (answers, latencies, judgments) and the four configurations.

Kept apart from inference so that judging and analysis read results without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nova_lab.core import artefacts
from nova_lab.core.caching import write_json
from nova_lab.core.records import ANSWER_COLUMNS, RecordStore
from nova_lab.core.study_steps import INFERENCE, JUDGING, StepNotRun, run_this
from nova_lab.core.vocabulary import BY_NAME, CONFIGURATIONS


@dataclass(frozen=True)
class FineTuneResult:
    """What step 03 made, on either backend: its manifest (the adapter's, or the served custom model's) and the
    loss history in the offline trainer's columns."""

    manifest: dict
    history: pd.DataFrame


def _configuration(label: str):
    name = repeated(label)[0]
    if name not in BY_NAME:
        raise ValueError(f"configuration {label!r} is not one of {list(BY_NAME)} (or one of them with #repeat)")
    return BY_NAME[name]


def uses_adapter(configuration: str) -> bool:
    """Whether the fine-tuned model answers (a repeat label such as `ft#1` counts as its configuration)."""
    return _configuration(configuration).adapter


def uses_rag(configuration: str) -> bool:
    """Whether retrieved passages go into the prompt."""
    return _configuration(configuration).rag


def repeat_label(configuration: str, repeat: int) -> str:
    """A fine-tuned configuration answered with the adapter of repeat `repeat` (seed + repeat): `ft#1`."""
    return configuration if repeat == 0 else f"{configuration}#{repeat}"


def repeated(label: str) -> tuple[str, int]:
    """`ft_rag#2` -> ("ft_rag", 2); a configuration of the study itself is repeat 0."""
    configuration, _, repeat = label.partition("#")
    return configuration, int(repeat or 0)


def in_order(present: set[str] | pd.Index) -> list[str]:
    """The configurations present, in the study's order."""
    return [c for c in CONFIGURATIONS if c in set(present)]


def answers_path(run_name: str, model: str) -> Path:
    return artefacts.path(artefacts.ANSWERS, run_name, model)


def latency_path(run_name: str, model: str) -> Path:
    return artefacts.path(artefacts.LATENCY, run_name, model)


def judgments_path(run_name: str, model: str) -> Path:
    return artefacts.path(artefacts.JUDGMENTS, run_name, model)


def meta_eval_path(run_name: str, model: str) -> Path:
    return artefacts.path(artefacts.META_EVAL, run_name, model)


def meta_eval_judgments_path(run_name: str) -> Path:
    """The check set is the same for every model, so its verdicts are kept once per run."""
    return artefacts.path(artefacts.META_EVAL_JUDGMENTS, run_name)


def graded_judgments_path(run_name: str) -> Path:
    """The graded set is the same for every model and run: its verdicts are kept once per run."""
    return artefacts.path(artefacts.GRADED_JUDGMENTS, run_name)


def current_path(run_name: str, model: str) -> Path:
    """Which records are the current result: the keys step 04 last asked for, the judges 05 last used."""
    return artefacts.path(artefacts.CURRENT, run_name, model)


# what each part of the current result is, and the step whose run sets it
CURRENT_PARTS = {"answers": INFERENCE, "latency": INFERENCE, "repeats": INFERENCE, "judges": JUDGING}


def set_current(run_name: str, model: str, **parts: list[str]) -> None:
    """Called by a step before it makes anything: from now on, its settings' records are the result,
    and a record it has not made yet is missing (so a killed run is never read as another setting's)."""
    unknown = set(parts) - set(CURRENT_PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) of the current result: {sorted(unknown)}; known: {sorted(CURRENT_PARTS)}")
    write_json(current_path(run_name, model), _current_parts(run_name, model) | parts)


def current(run_name: str, model: str, part: str) -> list[str]:
    """The keys (or names) a step last set as the current result; missing: the step has not run."""
    chosen = _current_parts(run_name, model).get(part)
    if chosen is None:
        raise StepNotRun(f"no {part} of {model!r} in run {run_name!r}: {run_this(CURRENT_PARTS[part], run_name, model)}")
    return chosen


def _current_parts(run_name: str, model: str) -> dict:
    """current.json as written (empty before step 04 first ran); a damaged one stops, naming it (`read_record`)."""
    return artefacts.read_record(artefacts.CURRENT, run_name, model) or {}


def read_answers(run_name: str, model: str, questions: pd.DataFrame) -> pd.DataFrame:
    """Exactly the answers step 04 last asked for, one per (test question, configuration)."""
    answers = _read_current(answers_path(run_name, model), run_name, model, "answers")
    expected = len(questions) * len(CONFIGURATIONS)
    if set(answers["question_id"]) != set(questions["id"]) or len(answers) != expected:
        raise ValueError(f"step 04's answers of {model!r} are for another test set ({len(answers)} answers, "
                         f"{expected} expected): {run_this(INFERENCE, run_name, model)}")
    return answers


def read_repeats(run_name: str, model: str) -> pd.DataFrame:
    """The fine-tuned configurations' answers with the other repeats' adapters (`finetune_repeats` > 1), as step
    04 last asked for them; none when it ran one adapter (or before repeats existed)."""
    if not _current_parts(run_name, model).get("repeats"):
        return pd.DataFrame(columns=ANSWER_COLUMNS)  # no need to read the whole store to say "none"
    return _read_current(answers_path(run_name, model), run_name, model, "repeats")


def read_latency(run_name: str, model: str, questions: pd.DataFrame) -> pd.DataFrame:
    """Exactly the timed requests step 04 last asked for."""
    latency = _read_current(latency_path(run_name, model), run_name, model, "latency")
    if not set(latency["question_id"]) <= set(questions["id"]):
        raise ValueError(f"step 04's timed requests of {model!r} are for another test set: "
                         f"{run_this(INFERENCE, run_name, model)}")
    return latency


def _read_current(path: Path, run_name: str, model: str, part: str) -> pd.DataFrame:
    keys = current(run_name, model, part)
    records = RecordStore(path).frame()
    records = records[records["key"].isin(keys)]
    missing = len(set(keys)) - len(records)
    if missing:
        raise StepNotRun(f"{missing} of the {len(set(keys))} {part} step 04 last asked for are not in {path} "
                         f"(a run stopped early, or requests failed): {run_this(INFERENCE, run_name, model)} again "
                         f"to make them")
    return records.set_index("key").loc[list(dict.fromkeys(keys))].reset_index()


