"""The page's first lines: what to choose, what was measured, what transfers, and the next step.

Written from the trade-off table, the winners per question kind, the fabrication rates and the run's
manifest, so the bottom line of an offline run and of a Bedrock run are made alike and say which one
they are. At most six lines: the choice per model, the caveat by kind, what was measured, what
transfers and what does not, fabrication, the next step.
"""

from __future__ import annotations

import math

import pandas as pd

from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.core.vocabulary import CONFIGURATION_NAMES
from nova_lab.data.data_prep import Source
from nova_lab.judging.judges import GOOD_ANSWER


def _choice(part: pd.DataFrame) -> str:
    """One model's choice: the best configuration, and the cheapest unbeaten one beside it, in shares of the best."""
    best = part.loc[part["quality"].idxmax()]
    said = (f"**{best.model}**: {CONFIGURATION_NAMES[best.configuration]} answers best "
            f"({best.quality:.1f} points [{best.quality_low:.1f}, {best.quality_high:.1f}], "
            f"{best.share_good:.0%} scored {GOOD_ANSWER}+)")
    others = part[part["unbeaten"] & (part["configuration"] != best.configuration)]
    if len(others):
        cheap = others.loc[others["usd_per_million_answers"].idxmin()]
        latency = cheap.latency_p50_ms / best.latency_p50_ms
        said += (f"; {CONFIGURATION_NAMES[cheap.configuration]} gives {cheap.quality / best.quality:.0%} of its quality "
                 + (f"at {latency:.0%} of its median latency and " if math.isfinite(latency) else "at ")
                 + f"{cheap.usd_per_million_answers / best.usd_per_million_answers:.0%} of its cost")
    return said


def _kind_caveat(winners: pd.DataFrame, trade: pd.DataFrame) -> str:
    """Where the best configuration for a kind of question differs from the overall best (clear leads only)."""
    overall = trade.loc[trade.groupby("model")["quality"].idxmax()].set_index("model")["configuration"]
    differ = winners[winners["clear"] & (winners["runner_up"] != "")
                     & (winners["choice"] != winners["model"].map(overall))]
    if differ.empty:
        return "No kind of question has a clearly different winner."
    return "By kind of question the winner can differ: " + "; ".join(
        f"on *{r.kind}*, {r.model}'s best is {CONFIGURATION_NAMES[r.choice]} ({r.margin:+.2f} points over "
        f"{CONFIGURATION_NAMES[r.runner_up]})" for r in differ.itertuples()) + "."


def _measured(models: dict[str, dict], judges: list[str], on_bedrock: bool, hardware: str) -> str:
    if on_bedrock:
        who = ", ".join(f"{m}: {STUDY_MODELS[m].converse_id}" for m in models)
        return (f"Measured on Amazon Bedrock ({who}), judged by LLM judges ({', '.join(judges)}): scores and "
                f"latencies are Nova's own, through the judges' eyes.")
    who = "; ".join(f"{m} = {about['weights'].split(' (')[0]}, a stand-in for {STUDY_MODELS[m].plays}"
                    for m, about in models.items())
    cpu, _, flags = hardware.partition("; ")
    return (f"Measured offline: {who}, on a CPU ({cpu}{f', {flags}' if flags else ''}), judged by {len(judges)} rule and similarity judges "
            f"({', '.join(judges)}; section 11 checks them against blind grades by AI graders). What transfers to Nova: "
            f"the directions of change and the token effects; what does not: CPU latencies and absolute scores.")


PROBED = {False: "Asked about operations and parameters that do not exist",
          True: "Asked the questions your file marks unanswerable"}  # by whether the study is on your documents


def _fabrication(rates: pd.DataFrame, own: bool) -> str:
    if rates.empty:
        return ""
    low, high = rates["fabrication_rate"].min(), rates["fabrication_rate"].max()
    if high == 0:
        return f"{PROBED[own]}, no configuration made up an answer (section 7)."
    how_often = f"{low:.0%} of the time" if f"{low:.0%}" == f"{high:.0%}" else f"{low:.0%} to {high:.0%} of the time"
    guard = ": a docs assistant built this way needs a guard" if low > 0 else ""
    return f"{PROBED[own]}, the configurations made up an answer {how_often} (section 7){guard}."


def lines(trade: pd.DataFrame, winners: pd.DataFrame, rates: pd.DataFrame, models: dict[str, dict],
          judges: list[str], on_bedrock: bool, hardware: str, next_step: str, own: bool = False) -> list[str]:
    """The bottom line, at most six lines, every number from the arguments (`own`: a study on your documents)."""
    said = ["To choose: " + "; ".join(_choice(part) for _, part in trade.groupby("model", sort=False)) + ".",
            _kind_caveat(winners, trade), _measured(models, judges, on_bedrock, hardware), _fabrication(rates, own),
            next_step]
    return [line for line in said if line]


def markdown(said: list[str]) -> str:
    return "**Bottom line**\n\n" + "\n".join(f"- {line}" for line in said)


PILOT_FILES = ("study.yaml", "bedrock.yaml")  # the same study on Bedrock, both sizes: what `nova-lab plan` prices


def next_step(on_bedrock: bool, source: Source = Source(), run_name: str | None = None) -> str:
    """Offline: the same study on Bedrock and what `nova-lab plan` estimates it costs: the built-in study at its
    full size, or a study on your documents at the run's own sizes (`run_name`'s params); on Bedrock: the
    teardown. A plan that cannot be made of your files says why instead of a price."""
    if on_bedrock:
        return ("Next: read the levels against questions of your own; `nova-lab teardown` removes every resource "
                "the run made.")
    from nova_lab.core import artefacts, paths
    from nova_lab.core.params import ParamsError, load_params
    from nova_lab.costing import plan, pricing

    params = load_params(*(paths.PARAMS / name for name in PILOT_FILES))
    files = " ".join(f"params/{name}" for name in PILOT_FILES)
    if source.own:
        shared = (artefacts.read_record(artefacts.PARAMS, run_name) or {}).get("shared", {}) if run_name else {}
        sizes = {key: shared[key] for key in ("n_train", "n_validation", "n_test", "n_probes", "seed") if key in shared}
        params = params.model_copy(update=sizes | {"documents": source.documents, "questions": source.questions})
        files += " <an overlay naming your documents and questions>"
    what = "the same study on your documents" if source.own else "the same study"
    try:
        usd = plan.build(params, params.sizes).total_usd
    except ParamsError as exc:
        return f"Next: {what} on Amazon Bedrock with Nova itself: `nova-lab plan --params {files}` prices it ({exc})."
    return (f"Next: {what} on Amazon Bedrock with Nova itself, estimated at ${usd:,.2f} "
            f"(`nova-lab plan --params {files}`, prices as of {pricing.AS_OF}).")
