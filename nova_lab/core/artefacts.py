"""Every artefact of a run: where it lives under outputs/<run_name>/, which step makes it, what it
holds. No other module spells a run's layout: they ask `path` for a place and `require` for
something a step should already have made, and `require`'s error names the notebook (and its
parameters) to run. outputs/README.md's table is written from `ARTEFACTS` (`layout`), and a
test keeps the two equal: `python -m nova_lab.core.artefacts` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nova_lab.core import paths
from nova_lab.core.caching import MANIFEST, read_json_object, read_manifest
from nova_lab.core.study_steps import DATA_PREP, FINE_TUNE, INFERENCE, JUDGING, KB_BUILD, Step, StepNotRun, run_this


@dataclass(frozen=True)
class Artefact:
    where: str  # relative to outputs/<run_name>/; {model} and {repeat} are filled in by `path`
    step: Step | None  # the step that makes it; None: `nova-lab study` writes it itself
    what: str  # what it holds, for outputs/README.md

    def per_model(self) -> bool:
        return "{model}" in self.where


DATA = Artefact("data", DATA_PREP, "corpus (`documents.parquet`, `facts.parquet`), Q&A set (`qa.parquet`), "
                                   "Nova JSONL (`nova/train.jsonl`, `nova/validation.jsonl`), `manifest.json`")
KB = Artefact("kb", KB_BUILD, "chunks (`chunks.parquet`), the LanceDB knowledge base (`lancedb/`), `manifest.json` "
                              "with build figures")
ADAPTER = Artefact("{model}/adapter", FINE_TUNE, "the LoRA adapter the fine-tuned configurations use: weights, "
                                                 "`manifest.json`, `history.parquet`")
REPEAT_ADAPTER = Artefact("{model}/adapter-repeat{repeat}", FINE_TUNE,
                          "with `finetune_repeats` > 1, the adapter trained with seed + repeat")
CHECKPOINTS = Artefact("{model}/checkpoints", FINE_TUNE, "resumable training checkpoints, one folder per run key")
ANSWERS = Artefact("{model}/answers.jsonl", INFERENCE, "every answer ever made (the repeats' too), one JSON line each")
LATENCY = Artefact("{model}/latency.jsonl", INFERENCE, "every request timed one at a time")
CURRENT = Artefact("{model}/current.json", INFERENCE, "which records are the result: the keys step 04 last asked "
                                                      "for, the panel 05 last used")
JUDGMENTS = Artefact("{model}/judgments.jsonl", JUDGING, "one verdict per answer and judge that scores it")
META_EVAL = Artefact("{model}/meta_eval.parquet", JUDGING, "the judges' scores of the check set")
META_EVAL_JUDGMENTS = Artefact("meta_eval_judgments.jsonl", JUDGING, "the check set's verdicts, once for all models")
GRADED_JUDGMENTS = Artefact("graded_judgments.jsonl", JUDGING, "the blind-graded set's verdicts, once for all models")
BEDROCK_STATE = Artefact("bedrock/state.json", DATA_PREP, "on Bedrock: the ids of what the run created (bucket "
                                                          "objects, knowledge base, jobs, served models); "
                                                          "`recording.jsonl` beside it when recording")
PARAMS = Artefact("params.json", None, "the validated parameters of every step")
TIMINGS = Artefact("timings.json", None, "each notebook's wall time in this run (06 reads it)")
ARTEFACTS = (DATA, KB, ADAPTER, REPEAT_ADAPTER, CHECKPOINTS, ANSWERS, LATENCY, CURRENT, JUDGMENTS, META_EVAL,
             META_EVAL_JUDGMENTS, GRADED_JUDGMENTS, BEDROCK_STATE, PARAMS, TIMINGS)


def path(artefact: Artefact, run_name: str, model: str | None = None, repeat: int = 0) -> Path:
    """Where `artefact` of this run (and model) lives; its folder is made, the artefact is not."""
    if artefact.per_model() and model is None:
        raise ValueError(f"{artefact.where} is kept per model: name the model")
    if artefact is ADAPTER and repeat:
        artefact = REPEAT_ADAPTER
    found = paths.run_dir(run_name) / artefact.where.format(model=model, repeat=repeat)
    (found if "." not in found.name else found.parent).mkdir(parents=True, exist_ok=True)
    return found


def adapter_dir(run_name: str, model: str, repeat: int = 0) -> Path:
    """The adapter the study's `ft` configurations use, or with `repeat` > 0 the one trained with seed + repeat:
    step 03 writes it, step 04 reads it."""
    return path(ADAPTER, run_name, model, repeat)


def require(artefact: Artefact, run_name: str, model: str | None = None, repeat: int = 0, *,
            inside: str | None = None) -> Path:
    """`path`, or the error that says which notebook to run (with which parameters) when it is missing;
    `inside` names a file the artefact's folder must hold, unchanged since the folder's manifest was written
    when it has one (a truncated table is never read: the error names the step to run again)."""
    found = path(artefact, run_name, model, repeat)
    needed = found / inside if inside else found
    if not needed.exists() or (needed.is_dir() and not any(needed.iterdir())):
        again = f" with finetune_repeats = {repeat + 1} or more" if repeat else ""
        raise StepNotRun(f"{paths.shareable(needed)} is missing: {_make(artefact, run_name, model)}{again} "
                         f"first")
    if inside not in (None, MANIFEST) and (found / MANIFEST).exists():
        require_complete(artefact, run_name, model, repeat)
    return needed


def require_complete(artefact: Artefact, run_name: str, model: str | None = None, repeat: int = 0) -> dict:
    """The manifest of a folder artefact a step wrote whole (its manifest and every file it lists, unchanged), or
    the error that says which notebook to run: a folder whose files were removed or damaged since is made again."""
    folder = require(artefact, run_name, model, repeat, inside=MANIFEST).parent
    manifest = read_manifest(folder)
    if not manifest:
        raise StepNotRun(f"{paths.shareable(folder)} is incomplete (files listed in its {MANIFEST} are gone or "
                         f"changed): {_make(artefact, run_name, model)} again")
    return manifest


def read_record(artefact: Artefact, run_name: str, model: str | None = None) -> dict[str, Any] | None:
    """A JSON record of the run (which results are current, the wall times); None before it is written. One that
    cannot be read stops with one line naming it and the way out: unlike a cache, a record is not guessed."""
    found = path(artefact, run_name, model)
    if not found.exists():
        return None
    record = read_json_object(found)
    if record is None:
        raise paths.UnusableState(f"{paths.shareable(found)} is damaged (not a JSON object): remove it, then "
                                  f"{_make(artefact, run_name, model)} again")
    return record


def _make(artefact: Artefact, run_name: str, model: str | None) -> str:
    """What to run to make `artefact` again."""
    return run_this(artefact.step, run_name, model) if artefact.step else "run `nova-lab study`"


LAYOUT_START, LAYOUT_END = "<!-- layout: generated by nova_lab.core.artefacts.layout; do not edit -->", "<!-- /layout -->"


def layout() -> str:
    """outputs/README.md's table of a run's artefacts, as `ARTEFACTS` defines them."""
    rows = ["| path under `outputs/<run_name>/` | made by | what |", "| --- | --- | --- |"]
    rows += [f"| `{a.where.replace('{model}', '<model>').replace('{repeat}', '<n>')}` | "
             f"`{a.step.name if a.step else 'nova-lab study'}` | {a.what} |" for a in ARTEFACTS]
    return "\n".join([LAYOUT_START, *rows, LAYOUT_END])


if __name__ == "__main__":
    print(layout())
