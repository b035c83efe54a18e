"""Step 04 offline: the four configurations answer the same test questions.

`base` and `rag` run the base model, `ft` and `ft_rag` a copy of it with the LoRA adapter merged
into its weights, as a served fine-tuned model runs (no adapter layers on the path). RAG prompts
carry the top-k hybrid passages. Throughput comes from batched greedy generation (left
padding, batches of similar prompt length); latency is measured apart, one request at a
time from question to full answer, retrieval included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from tqdm.auto import tqdm

from nova_lab.core import artefacts
from nova_lab.core.caching import fingerprint
from nova_lab.core.params import InferenceParams
from nova_lab.core.records import RecordStore, answer_record
from nova_lab.core.results import (
    CONFIGURATIONS,
    answers_path,
    in_order,
    latency_path,
    repeat_label,
    set_current,
    uses_adapter,
    uses_rag,
)
from nova_lab.data import prompts
from nova_lab.data.qa import timed_sample
from nova_lab.retrieval.knowledge_base import Passage, Retriever
from nova_lab.tuning import models, precision

TIMING_VERSION = 2  # 2: timed in the run's precision over weights cast once (1: always float32)
SERVING = "adapter merged"  # how `ft` and `ft_rag` answer: in their answers' keys, so older answers are not mixed in


@dataclass(frozen=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    stopped: bool  # ended on a stop token, not on max_new_tokens


class LocalEngine:
    """The base model and, for the fine-tuned configurations, a copy with the adapter merged into its weights,
    each loaded on first use, in one precision: float32, or bfloat16 autocast over weights cast once
    (`precision.cast_frozen_weights`).

    Merged, a fine-tuned answer costs what a base one does, as on a serving stack: an unmerged adapter adds
    two small matrix products per adapted layer and token, which at one request at a time made `ft` look slower
    than `base` for a cost no deployed model pays.
    """

    def __init__(self, model: str, adapter: Path | None, bf16: bool = False):
        self.name, self.adapter, self.bf16 = model, adapter, bf16
        self.tokenizer = models.tokenizer(model)
        self.stop_ids = models.stop_token_ids(model, self.tokenizer)

    @cached_property
    def model(self) -> Any:
        """Loaded on first use: a re-run whose answers are all stored renders its prompts and loads no model."""
        return self._ready(models.weights(self.name))

    @cached_property
    def tuned(self) -> Any:
        """The base model with the adapter merged in (float32, then cast like the base): `ft` and `ft_rag`."""
        from peft import PeftModel

        if self.adapter is None:
            raise ValueError(f"{self.name}: no adapter was given, so there is no fine-tuned model to answer with")
        merged = PeftModel.from_pretrained(models.weights(self.name), self.adapter).merge_and_unload()
        return self._ready(merged.eval())

    def _ready(self, model: Any) -> Any:
        return precision.cast_frozen_weights(model) if self.bf16 else model

    def generate(self, texts: list[str], adapter: bool, max_new_tokens: int) -> list[Generation]:
        import torch  # here: a re-run with every answer stored never generates, and torch takes seconds to import

        batch = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        model = self.tuned if adapter else self.model
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            output = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens,
                                    eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id)
        results = []
        for row, mask in zip(output[:, batch["input_ids"].shape[1]:].tolist(), batch["attention_mask"]):
            ends = [i for i, token in enumerate(row) if token in self.stop_ids]
            answer = row[: ends[0]] if ends else row
            results.append(Generation(self.tokenizer.decode(answer, skip_special_tokens=True).strip(),
                                      int(mask.sum()), len(answer), bool(ends)))
        return results


@dataclass(frozen=True)
class Request:
    key: str
    question_id: str
    configuration: str
    prompt: str
    passages: tuple[Passage, ...]
    question: str


def build_requests(engine: LocalEngine, questions: pd.DataFrame, retriever: Retriever, cfg: InferenceParams,
                   adapter_key: str, configurations: tuple[str, ...] = CONFIGURATIONS) -> list[Request]:
    """Every (question, configuration) as a rendered prompt and its cache key (`cfg.bf16` resolved: see `run`)."""
    assert isinstance(cfg.bf16, bool), "resolve bf16 (precision.choose) before keying answers"
    requests = []
    for q in tqdm(questions.itertuples(), total=len(questions), desc="retrieval", unit="q"):
        passages = tuple(retriever.retrieve(q.question, cfg.rag_top_k))
        for configuration in configurations:
            context = passages if uses_rag(configuration) else ()
            prompt = prompts.question_prompt(engine.tokenizer, q.question, [p.text for p in context])
            key = fingerprint(models.spec(cfg.local_model).description, _adapter_of(configuration, adapter_key),
                              SERVING if uses_adapter(configuration) else None,
                              configuration, q.id, prompt, prompts.PROMPT_VERSION, cfg.max_new_tokens, "greedy",
                              "bf16" if cfg.bf16 else "float32")
            requests.append(Request(key, q.id, configuration, prompt, context, q.question))
    return requests


def _adapter_of(configuration: str, adapter_key: str) -> str | None:
    return adapter_key if uses_adapter(configuration) else None


def _record(request: Request, generation: Generation, cfg: InferenceParams, adapter_key: str,
            batch_size: int, latency_ms: float | None) -> dict[str, Any]:
    return answer_record(
        key=request.key, question_id=request.question_id, model=cfg.model, configuration=request.configuration,
        answer=generation.text, input_tokens=generation.input_tokens, output_tokens=generation.output_tokens,
        latency_ms=latency_ms, batch_size=batch_size, stopped=generation.stopped, passages=request.passages,
        adapter_key=_adapter_of(request.configuration, adapter_key), max_new_tokens=cfg.max_new_tokens,
        backend=cfg.backend, prompt_version=prompts.PROMPT_VERSION)


def answer_all(engine: LocalEngine, requests: list[Request], store: RecordStore, cfg: InferenceParams,
               adapter_key: str) -> int:
    """Batched answers for every request not yet in the store; returns how many were made."""
    done = store.keys()
    pending = [r for r in requests if r.key not in done]
    made = 0
    for adapter in (False, True):
        group = sorted((r for r in pending if uses_adapter(r.configuration) == adapter),
                       key=lambda r: len(prompts.encode(engine.tokenizer, r.prompt)))
        batches = [group[i: i + cfg.batch_size] for i in range(0, len(group), cfg.batch_size)]
        for batch in tqdm(batches, desc=f"answers ({'adapter' if adapter else 'base'})", unit="batch"):
            generations = engine.generate([r.prompt for r in batch], adapter, cfg.max_new_tokens)
            store.append([_record(r, g, cfg, adapter_key, len(batch), None) for r, g in zip(batch, generations)])
            made += len(batch)
    return made


def measure_latency(engine: LocalEngine, timed: list[Request], retriever: Retriever, store: RecordStore,
                    cfg: InferenceParams, adapter_key: str) -> int:
    """One request at a time, as a user would wait: retrieval, prompt, generation, decoding, in the run's precision.
    Each timed request is keyed by the batched request it repeats (`timed_key`), so it is timed again whenever that
    request's settings or the way of timing change."""
    done = store.keys()
    made = 0
    for configuration in CONFIGURATIONS:
        todo = [r for r in timed if r.configuration == configuration and r.key not in done]
        for request in tqdm(todo, desc=f"latency ({configuration})", unit="q", disable=not todo):
            question = request.question
            started = time.perf_counter()
            passages = tuple(retriever.retrieve(question, cfg.rag_top_k)) if uses_rag(configuration) else ()
            prompt = prompts.question_prompt(engine.tokenizer, question, [p.text for p in passages])
            generation = engine.generate([prompt], uses_adapter(configuration), cfg.max_new_tokens)[0]
            latency = (time.perf_counter() - started) * 1000
            store.append([_record(request, generation, cfg, adapter_key, 1, latency)])
            made += 1
    return made


def adapter_key(run_name: str, model: str, repeat: int = 0) -> str:
    """The key of the adapter step 03 made (the error says to run 03 when it has not)."""
    return artefacts.require_complete(artefacts.ADAPTER, run_name, model, repeat)["key"]


def check_adapter_base(cfg: InferenceParams) -> None:
    """Step 03 trained the adapter on one stand-in; answering with another (a `stand_in` set for 04 and not for 03)
    would put a LoRA on weights it was not trained for. Stop and name both."""
    from nova_lab.core.caching import read_manifest
    from nova_lab.core.params import ParamsError

    trained = (read_manifest(artefacts.adapter_dir(cfg.run_name, cfg.model)) or {}).get("base_model")
    here = models.spec(cfg.local_model).description
    if trained is not None and trained != here:
        raise ParamsError(f"{cfg.model}'s adapter was trained on {trained}, and this step would answer with {here}: "
                          f"give 03 and 04 the same `stand_in`, then run 03 again")


def run(cfg: InferenceParams, questions: pd.DataFrame, retriever: Retriever,
        engine_factory: Callable[..., LocalEngine] = LocalEngine, stored: Retriever | None = None) -> dict[str, Any]:
    """Answers and latencies for these questions, resuming from whatever is already stored. The keys these
    settings make are set as the model's current result first, so what follows reads exactly them. Everything,
    timed requests included, runs in the precision `bf16` chooses, which is part of each answer's key. The model
    is loaded only when something is left to answer or time: a re-run with every answer stored makes no model.
    Prompts are rendered from `stored` (the same search with its results kept, `kb_build.open_kept`) when given;
    the latency sample always searches `retriever` itself."""
    stored = stored or retriever
    check_adapter_base(cfg)
    choice = precision.choose(cfg.bf16)
    cfg = cfg.model_copy(update={"bf16": choice.bf16})
    key = adapter_key(cfg.run_name, cfg.model)
    clock = _Clock()
    engine = engine_factory(cfg.local_model, artefacts.adapter_dir(cfg.run_name, cfg.model), cfg.bf16)
    requests = build_requests(engine, questions, stored, cfg, key)
    sampled = set(timed_sample(questions, cfg.latency_sample, cfg.seed)["id"])
    timed = [replace(r, key=timed_key(r)) for r in requests if r.question_id in sampled]
    set_current(cfg.run_name, cfg.model, answers=[r.key for r in requests], latency=[r.key for r in timed])
    clock.lap("prompts")
    made = answer_all(engine, requests, RecordStore(answers_path(cfg.run_name, cfg.model)), cfg, key)
    clock.lap("batched answers")
    timed_now = measure_latency(engine, timed, retriever, RecordStore(latency_path(cfg.run_name, cfg.model)), cfg, key)
    clock.lap("timed requests")
    repeated = answer_repeats(cfg, questions, stored, engine_factory)
    clock.lap("repeats")
    return {"requests": len(requests), "answered_now": made, "timed_now": timed_now, **repeated,
            "precision": choice.reason, "seconds": clock.laps}


class _Clock:
    """Seconds per phase, for the progress record: where a step's time went (issue 17)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase], self.last = round(now - self.last, 1), now


def timed_key(request: Request) -> str:
    """A timed request's key: the batched request it repeats, and how it is timed (TIMING_VERSION)."""
    return fingerprint(request.key, "timed", TIMING_VERSION)


def answer_repeats(cfg: InferenceParams, questions: pd.DataFrame, retriever: Retriever,
                   engine_factory: Callable[..., LocalEngine]) -> dict[str, int]:
    """The fine-tuned configurations again with each other repeat's adapter (`finetune_repeats` > 1), labelled
    `ft#1`, `ft_rag#1`, ...: batched answers only, for 06's seed spread (latency is the study adapter's)."""
    requests: list[Request] = []
    for repeat in range(1, cfg.finetune_repeats):
        key = adapter_key(cfg.run_name, cfg.model, repeat)
        engine = engine_factory(cfg.local_model, artefacts.adapter_dir(cfg.run_name, cfg.model, repeat), cfg.bf16)
        labels = tuple(repeat_label(c, repeat) for c in CONFIGURATIONS if uses_adapter(c))
        mine = build_requests(engine, questions, retriever, cfg, key, labels)
        answer_all(engine, mine, RecordStore(answers_path(cfg.run_name, cfg.model)), cfg, key)
        requests += mine
    set_current(cfg.run_name, cfg.model, repeats=[r.key for r in requests])
    return {"repeat_answers": len(requests)}


def summary(answers: pd.DataFrame, latency: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: answers, mean answer length and tokens, and the latency figures."""
    table = answers.groupby("configuration").agg(
        answers=("key", "size"), mean_answer_words=("answer", lambda a: a.str.split().str.len().mean()),
        input_tokens=("input_tokens", "mean"), output_tokens=("output_tokens", "mean"),
        total_tokens=("total_tokens", "mean"), stopped=("stopped", "mean"))
    latency_table = latency.groupby("configuration")["latency_ms"].describe(percentiles=[0.5, 0.9])[
        ["count", "mean", "50%", "90%"]].rename(columns={"count": "timed", "mean": "latency_mean_ms",
                                                          "50%": "latency_p50_ms", "90%": "latency_p90_ms"})
    return table.join(latency_table).reindex(in_order(table.index))


def plot(answers: pd.DataFrame, latency: pd.DataFrame):
    """Total tokens and single-request latency by configuration, side by side."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = in_order(answers["configuration"])
    figure, (tokens_axes, latency_axes) = plt.subplots(1, 2, figsize=(10, 3.4))
    sns.boxplot(data=answers, x="configuration", y="total_tokens", order=order, ax=tokens_axes)
    tokens_axes.set(title="total tokens per answer", xlabel="", ylabel="tokens")
    if len(latency):
        sns.boxplot(data=latency, x="configuration", y="latency_ms", order=order, ax=latency_axes)
    latency_axes.set(title="latency, one request at a time", xlabel="", ylabel="ms")
    figure.tight_layout()
    return figure


def examples(answers: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """For the first question of each stratum: the reference and each configuration's answer."""
    firsts = questions.groupby("stratum", sort=True).head(1).set_index("id")
    picked = answers[answers["question_id"].isin(firsts.index)]
    table = picked.pivot(index="question_id", columns="configuration", values="answer")
    table = table[in_order(table.columns)]
    return firsts[["stratum", "question", "reference_answer"]].join(table).reset_index(drop=True).T
