"""The study's six steps, one row each (the notebook's name, whether it runs per model, what it
makes), and the one message that says which step to run when what a step makes is missing.
Every module names a step through the constants here, never by a string of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nova_lab.core import paths


@dataclass(frozen=True)
class Step:
    name: str  # the notebook's file name without .ipynb, and the step's name everywhere
    per_model: bool  # runs once per model size (03-05), or once for the run (01, 02, 06)
    makes: str  # what later steps read from it, in words

    @property
    def number(self) -> str:
        return self.name[:2]

    @property
    def notebook(self) -> Path:
        return paths.NOTEBOOKS / f"{self.name}.ipynb"


DATA_PREP = Step("01_data_prep", False, "the corpus, the Q&A set and the Nova fine-tuning files (data/)")
KB_BUILD = Step("02_kb_build", False, "the knowledge base (kb/)")
FINE_TUNE = Step("03_fine_tune", True, "the LoRA adapter (<model>/adapter/), or on Bedrock the served custom model")
INFERENCE = Step("04_inference", True, "the answers and the timed requests (<model>/answers.jsonl, latency.jsonl)")
JUDGING = Step("05_judging", True, "the verdicts of the panel (<model>/judgments.jsonl)")
ANALYSIS = Step("06_analysis", False, "the analysis and its HTML (06_analysis.ipynb, 06_analysis.html)")
STEPS: dict[str, Step] = {step.name: step for step in (DATA_PREP, KB_BUILD, FINE_TUNE, INFERENCE, JUDGING, ANALYSIS)}
SHARED_STEPS = (DATA_PREP.name, KB_BUILD.name)  # before the models
MODEL_STEPS = tuple(name for name, step in STEPS.items() if step.per_model)


class StepNotRun(FileNotFoundError):
    """What a step needs from an earlier one is missing or incomplete (the step has not run, or not to the end):
    the one exception for it, whoever finds it. The message names what is missing and what to run (`run_this`),
    so it is shown as one line, not a traceback."""


def run_this(step: Step, run_name: str, model: str | None = None) -> str:
    """What to run to make what `step` makes: the notebook and its parameters, or the command."""
    which = f"run_name={run_name!r}" + (f", model={model!r}" if step.per_model and model else "")
    params = f"params/{model}.yaml" if step.per_model and model else "params/study.yaml"
    return f"run notebooks/{step.name}.ipynb with {which} (nova-lab run {step.number} --params {params} ...)"
