"""The study's key figures, read from a run's executed notebooks, and their comparison with pinned values.

The smoke study's figures are pinned in `tests/pinned/smoke_figures.json`, so that a change to
a prompt, a judge, a split or a store that moves the study's numbers is seen in the tests and
changed there on purpose (a reviewed edit of that file), never by accident. The pin is a
snapshot of runs on fresh outputs trees: with one run (the smoke study is bit-reproducible on
one machine) every tolerance is the floor, an exact snapshot; with several, each tolerance is
twice the spread between them (`pin`; the file says how it was made). Figures saturated at a
bound by construction (the judges' ordering rates on their own check set) are not pinned; the
fabrication rates and recall@5 are, though the smoke set puts them at 1.0 today, since a change
can move them. Quality changes are pinned in points, as the page leads with them.

On one machine the smoke study is bit-reproducible, but the models' figures are not the same
on every CPU: bfloat16 and float32 kernels round differently with AMX, AVX-512 or AVX2, and one
flipped greedy token changes an answer. So the file records the CPU kind and precision it was
pinned on (the smoke profile forces bfloat16, so the precision never depends on `bf16: auto`'s
timing); elsewhere only the figures that do not go through a model's arithmetic (question
counts, retrieval, prompt tokens) are compared and the test warns which were left out and how to
pin them there (`python -m nova_lab.analysis.key_figures RUN_FOLDER...`), except under CI
(`NOVA_LAB_STRICT_PINS=1`, set by `.ci/run`), where a CPU other than the pin's fails.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from nova_lab.core.notebook_utils import read_notebook
from nova_lab.core.study_steps import ANALYSIS, DATA_PREP, FINE_TUNE, INFERENCE, JUDGING, KB_BUILD
from nova_lab.core.vocabulary import CHANGES
from nova_lab.tuning.precision import cpu_kind

TOKENS = ("input_tokens", "output_tokens", "total_tokens")
PINNED = Path(__file__).resolve().parents[2] / "tests" / "pinned" / "smoke_figures.json"
ANY_CPU = ("questions/", "recall@", "MRR/", "/input_tokens")  # figures no model arithmetic goes into
QUALITY_CHANGES = tuple(CHANGES)


def collect(folder: Path, models: list[str]) -> dict[str, float]:
    """Every key figure of the run in `folder`, by a name that says what it is."""
    figures: dict[str, float] = {}
    data = read_notebook(folder / f"{DATA_PREP.name}.ipynb")
    for row in data["qa_counts"]:
        figures[f"questions/{row['split']}/{row['stratum']}"] = row["questions"]
    retrieval = {(r["mode"], r["stratum"]): r for r in read_notebook(folder / f"{KB_BUILD.name}.ipynb")["retrieval"]}
    for mode in ("hybrid", "vector", "keyword"):
        if (mode, "all") in retrieval:  # recall@1 and MRR move where recall@5 sits at 1.0 on the smoke set
            for metric in ("recall@1", "recall@5", "MRR"):
                figures[f"{metric}/{mode}"] = retrieval[(mode, "all")][metric]
    for model in models:
        tuned = read_notebook(folder / model / f"{FINE_TUNE.name}.ipynb")["fine_tune"]
        figures[f"{model}/validation_loss/before"] = tuned["validation_loss_before"]
        figures[f"{model}/validation_loss/after"] = tuned["validation_loss_after"]
        for row in read_notebook(folder / model / f"{INFERENCE.name}.ipynb")["inference"]:
            for tokens in TOKENS:
                figures[f"{model}/{row['configuration']}/{tokens}"] = row[tokens]
        judged = read_notebook(folder / model / f"{JUDGING.name}.ipynb")
        for row in judged["judging"]:
            figures[f"{model}/{row['configuration']}/panel_mean"] = row["panel_mean"]
    analysis = read_notebook(folder / f"{ANALYSIS.name}.ipynb")
    for row in analysis["changes"]:
        if row["metric"] == "quality" and row["configuration"] in QUALITY_CHANGES:  # in points: bases are near 0
            figures[f"{row['model']}/quality_change/{row['configuration']}"] = row["change"]
    for row in analysis["fabrication"]:
        figures[f"{row['model']}/{row['configuration']}/fabrication_rate"] = row["fabrication_rate"]
    return figures


def read_pinned(path: Path = PINNED) -> dict[str, Any]:
    return json.loads(path.read_text())


def machine(folder: Path, models: list[str]) -> str:
    """What the run's model figures depend on: the CPU kind and the precision its steps ran in (`bf16: auto` may
    choose either on one CPU kind, and bfloat16 moves every figure downstream of a model)."""
    tuned = read_notebook(folder / models[0] / f"{FINE_TUNE.name}.ipynb")["fine_tune"]
    return f"{cpu_kind()}; {'bfloat16' if tuned['hyperparameters']['bf16'] else 'float32'}"


def any_cpu(name: str) -> bool:
    return any(part in name for part in ANY_CPU)


def pin(runs: list[dict[str, float]], floor: float = 1e-6, noise_factor: float = 2.0) -> dict[str, dict[str, float]]:
    """Pinned values from several runs on fresh outputs: each figure's median, and a tolerance of
    `noise_factor` times its spread between the runs (at least `floor`, relative): a figure that did not
    move between runs is pinned tightly, one downstream of training as loosely as training's own noise."""
    pinned = {}
    for name in sorted(runs[0]):
        values = sorted(run[name] for run in runs)
        median = values[len(values) // 2]
        spread = values[-1] - values[0]
        pinned[name] = {"value": median, "spread": spread,
                        "tolerance": max(noise_factor * spread, floor * max(1.0, abs(median)))}
    return pinned


def compared(pinned: dict[str, Any], cpu: str) -> tuple[dict[str, Any], list[str]]:
    """The pinned figures this CPU can be held to, and the names of those it cannot (pinned on another kind)."""
    if pinned.get("cpu") == cpu:
        return pinned, []
    kept = {name: value for name, value in pinned["figures"].items() if any_cpu(name)}
    return pinned | {"figures": kept}, sorted(set(pinned["figures"]) - set(kept))


def moved(figures: dict[str, float], pinned: dict[str, Any]) -> list[str]:
    """Each figure that left its pinned value by more than its tolerance, or that appeared or went missing."""
    problems = []
    for name in sorted(set(figures) | set(pinned["figures"])):
        if name not in figures or name not in pinned["figures"]:
            problems.append(f"{name}: {'not pinned' if name in figures else 'no longer made'}")
            continue
        value, expected = figures[name], pinned["figures"][name]
        if value is None or expected["value"] is None:
            if value != expected["value"]:
                problems.append(f"{name}: {value} (pinned {expected['value']})")
            continue
        if not math.isclose(value, expected["value"], abs_tol=expected["tolerance"], rel_tol=0):
            problems.append(f"{name}: {value:.6g} (pinned {expected['value']:.6g} ± {expected['tolerance']:.3g})")
    return problems


def main(argv: list[str] | None = None) -> None:
    """Pin the figures of several smoke runs (each on an empty outputs tree) on this CPU: a reviewed edit."""
    args = argparse.ArgumentParser(description=main.__doc__)
    args.add_argument("runs", nargs="+", type=Path, help="run folders, e.g. /tmp/a/smoke (NOVA_LAB_OUTPUTS=/tmp/a make quick)")
    args.add_argument("--models", nargs="+", default=["micro", "lite"])
    args.add_argument("--how", required=True, help="how the runs were made, for the file's record")
    parsed = args.parse_args(argv)
    runs = [collect(folder, parsed.models) for folder in parsed.runs]
    where = machine(parsed.runs[0], parsed.models)
    PINNED.write_text(json.dumps({
        "about": "The smoke study's key figures (nova_lab.analysis.key_figures.collect), pinned by tests/test_study.py. "
                 "Change a value only on purpose, in the change that moves it, where a reviewer sees it.",
        "how": parsed.how, "cpu": where, "figures": pin(runs)}, indent=1, sort_keys=False) + "\n")
    print(f"pinned {len(runs[0])} figures from {len(runs)} runs on {where} into {PINNED}")


if __name__ == "__main__":
    main()
