"""The study's words, each defined once: the four configurations (what each uses, what a reader calls it), the
headline metrics, and the names of the kinds registered elsewhere (judges, Q&A generators, stand-ins), so that the
params can refuse a wrong name without loading a judge, a generator or a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Configuration:
    name: str  # as records, params and tables store it
    display: str  # what a reader sees in a table or figure
    change: str  # the approach it adds to base, as the findings name it
    rag: bool  # retrieved passages go into the prompt
    adapter: bool  # the fine-tuned model answers


CONFIGURATION_TABLE = (
    Configuration("base", "base", "nothing", rag=False, adapter=False),
    Configuration("rag", "RAG", "RAG", rag=True, adapter=False),
    Configuration("ft", "fine-tuned", "fine-tuning", rag=False, adapter=True),
    Configuration("ft_rag", "fine-tuned + RAG", "fine-tuning + RAG", rag=True, adapter=True),
)
CONFIGURATIONS = tuple(c.name for c in CONFIGURATION_TABLE)
BY_NAME = {c.name: c for c in CONFIGURATION_TABLE}
CONFIGURATION_NAMES = {c.name: c.display for c in CONFIGURATION_TABLE}
CHANGES = {c.name: c.change for c in CONFIGURATION_TABLE if c.name != "base"}  # what each non-base one adds
WITHOUT_FINE_TUNING = {c.name: next(b.name for b in CONFIGURATION_TABLE if b.rag == c.rag and not b.adapter)
                       for c in CONFIGURATION_TABLE if c.adapter}  # ft -> base, ft_rag -> rag

HEADLINE_METRICS = {"quality": "answer quality", "latency_ms": "latency", "total_tokens": "total tokens"}  # short
METRIC_NAMES = {
    "quality": "quality (panel mean, 0-10)", "latency_ms": "latency (ms, one request)",
    "input_tokens": "input tokens per answer", "output_tokens": "output tokens per answer",
    "total_tokens": "total tokens per answer",
}

# Defined where their code lives (judging.judges and data.qa register theirs, and refuse a name not declared
# here; tuning.models lists the stand-ins); tests/test_vocabulary.py checks each table against these both ways.
JUDGE_NAMES = ("fact_check", "semantic", "overlap")
QA_GENERATOR_NAMES = ("template",)
STAND_IN_NAMES = ("smollm2_135m", "qwen25_coder_05b", "gemma3_270m")
Bf16Setting = Literal[True, False, "auto"]  # one allowed-values message for a wrong one
