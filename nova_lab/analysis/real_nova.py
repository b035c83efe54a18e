"""What would change on real Nova: the offline run's limits, each with the run's own numbers where it has one.

An offline run measures small open stand-ins on a CPU with rule and similarity judges; a reader who
will decide for Nova needs to know which of its numbers carry over. Every line here is written from
the run: which cells hit the answer-length cap and how often, whether fine-tuning was trained with one
seed, how fine-tuning's change on facts it was taught compares with facts it was not.
"""

from __future__ import annotations

import pandas as pd

from nova_lab.analysis.statistics import StudyResults
from nova_lab.core.vocabulary import CONFIGURATION_NAMES
from nova_lab.data.data_prep import Source

CAPPED_SHARE = 0.2  # a cell whose answers hit max_new_tokens this often or more is named
TEMPLATED = ("The questions are templated from botocore's service models: AWS users ask more loosely, and a model "
             "that learned the templates' form gains more here than it would on their questions.")


def questions_line(source: Source) -> str:
    """What the questions are, and so what the levels are worth: templates, your file's, or an LLM's."""
    if not source.own:
        return TEMPLATED
    if source.questions:
        return (f"The questions and references are your file's (`{source.questions}`): the levels are as good as its "
                "references, and the fact check scores only the pairs that carry key facts (appendix B counts them).")
    return ("The questions were written by an LLM (`bedrock.qa_model`) from your documents, kept where the answer "
            "holds key facts copied from them: read a sample in 01 before trusting the levels.")


def _seeds(finetune_repeats: int) -> str:
    if finetune_repeats == 1:
        return "Fine-tuning was trained with one seed (`finetune_repeats: 1`): its change includes that seed's luck."
    return f"Fine-tuning was trained with {finetune_repeats} seeds: section 8 gives the spread between them."


def _capped(answers: pd.DataFrame, max_new_tokens: int) -> str:
    """Which cells' answers were cut by max_new_tokens, and how often: their token, latency and cost changes are
    bounded by the cap, not by what the model would have said."""
    hit = (~answers["stopped"].astype(bool)).groupby([answers["model"], answers["configuration"]], sort=False).mean()
    named = [f"{model} {CONFIGURATION_NAMES[configuration]} {share:.0%}" for (model, configuration), share in hit.items()
             if share >= CAPPED_SHARE]
    if not named:
        return f"Few answers reached the {max_new_tokens}-token cap (under {CAPPED_SHARE:.0%} in every cell)."
    return (f"Answers were cut at {max_new_tokens} new tokens in {', '.join(named)} of the answers: there, output "
            f"tokens, latency and cost are the cap's, and their changes against other cells are bounded by it.")


def _seen_unseen(by_stratum: pd.DataFrame) -> str:
    """Fine-tuning's change on facts it was taught (seen) against facts only in the knowledge base (unseen)."""
    ft = by_stratum[(by_stratum["configuration"] == "ft") & (by_stratum["metric"] == "quality")]
    said = []
    for model, part in ft.groupby("model", sort=False):
        rows = part.set_index("stratum")
        if not {"seen", "unseen"} <= set(rows.index):
            continue
        seen, unseen = rows.loc["seen"], rows.loc["unseen"]
        overlap = seen.change_low <= unseen.change_high and unseen.change_low <= seen.change_high
        reading = ("the intervals overlap: no sign that it taught the facts more than the answers' form" if overlap
                   else "apart: more on the facts it was taught" if seen.change > unseen.change
                   else "apart: more on the facts it was not taught, so not by teaching them")
        said.append(f"{model}: {seen.change:+.2f} points on taught facts, {unseen.change:+.2f} on untaught ones "
                    f"({reading})")
    return ("Fine-tuning against base, " + "; ".join(said) + ".") if said else ""


def repeats_of(res: StudyResults) -> int:
    """How many adapters step 03 trained per model: 1, or 1 + the other repeats' (`ft#1`, ...) that 04 answered."""
    if res.repeats is None or res.repeats.empty:
        return 1
    return 1 + res.repeats["configuration"].str.split("#").str[1].nunique()


def lines(res: StudyResults, by_stratum: pd.DataFrame, on_bedrock: bool = False, source: Source = Source()) -> list[str]:
    """The limits of a run, in the order a reader weighs them: on Bedrock, only those that are not about the
    stand-ins, their judges and their CPU (the questions, the cap, the seed, what fine-tuning taught)."""
    answers, judges, finetune_repeats = res.answers, res.judges, repeats_of(res)
    max_new_tokens = int(answers["max_new_tokens"].max())
    if on_bedrock:
        return [line for line in (questions_line(source), _capped(answers, max_new_tokens), _seeds(finetune_repeats),
                                  _seen_unseen(by_stratum)) if line]
    return [line for line in (
        f"The judges are {len(judges)} rule and similarity judges ({', '.join(judges)}), not LLMs: the study's LLM "
        f"judges read meaning these cannot; the Bedrock backend uses LLM judges.",
        questions_line(source),
        _capped(answers, max_new_tokens),
        "Latency is one request at a time on a CPU and depends on how the fine-tuned model is served (here the "
        "adapter is merged into the weights); on Bedrock it is the service's.",
        _seeds(finetune_repeats),
        _seen_unseen(by_stratum),
        "The stand-ins differ from each other in more than size (another family, another training), so micro "
        "against lite is not a reading of Nova Micro against Nova Lite.",
    ) if line]


def markdown(said: list[str]) -> str:
    return "\n".join(f"- {line}" for line in said)
