"""Inference: answer records with the tokenizer's counts, and resuming without duplicates or gaps."""

import json

import pandas as pd
import pytest

from nova_lab.answering import inference
from nova_lab.answering.inference import Generation, LocalEngine
from nova_lab.core import artefacts, results
from nova_lab.core.caching import write_manifest
from nova_lab.core.params import InferenceParams
from nova_lab.core.records import ANSWER_COLUMNS, RecordStore
from nova_lab.core.results import CONFIGURATIONS
from nova_lab.core.study_steps import StepNotRun
from nova_lab.data import prompts
from nova_lab.retrieval.knowledge_base import Passage
from nova_lab.tuning import models

pytestmark = pytest.mark.slow  # loads a model and generates

RUN = "inference-unit"
CFG = InferenceParams(run_name=RUN, backend="local", model="micro", seed=1, rag_top_k=2, rrf_k=60,
                      max_new_tokens=12, batch_size=3, latency_sample=2, bf16=False)
QUESTIONS = pd.DataFrame({
    "id": [f"q{i}" for i in range(5)], "stratum": ["seen", "unseen"] * 2 + ["seen"],
    "question": ["What is the API version of Amazon SQS?", "Which HTTP method does S3 PutObject use?",
                 "What errors can SQS SendMessage return?", "Which parameters does SNS Publish require?",
                 "How do I paginate SQS ListQueues?"],
})


class FixedRetriever:
    def retrieve(self, query, k=5, mode="hybrid"):
        return [Passage(f"doc/{n}#0", f"doc/{n}", f"Passage {n} about {query}", 1.0 / (n + 1)) for n in range(k)]


@pytest.fixture(scope="module")
def tokenizer():
    return models.load("micro")[1]


class FakeEngine:
    """Answers instantly; can die after some batches, as a killed run would."""

    def __init__(self, tokenizer, die_after=None):
        self.tokenizer, self.die_after, self.calls = tokenizer, die_after, 0

    def generate(self, texts, adapter, max_new_tokens):
        if self.die_after is not None and self.calls >= self.die_after:
            raise RuntimeError("killed")
        self.calls += 1
        return [Generation(f"answer {len(t)} {adapter}", len(prompts.encode(self.tokenizer, t)), 3, True) for t in texts]


def test_store_skips_a_torn_line_and_keeps_a_key_once(tmp_path):
    store = RecordStore(tmp_path / "a.jsonl")
    store.append([{"key": "a", "answer": "1"}, {"key": "b", "answer": "2"}])
    store.append([{"key": "a", "answer": "1 again"}])
    with open(store.path, "a") as handle:
        handle.write('{"key": "c", "ans')
    assert store.keys() == {"a", "b"}
    assert store.frame().set_index("key")["answer"].to_dict() == {"b": "2", "a": "1 again"}


def test_a_killed_run_resumes_with_no_duplicate_and_no_gap(tokenizer, own_outputs):
    write_manifest(artefacts.adapter_dir(RUN, "micro"), {"key": "adapter-1"})
    dying = FakeEngine(tokenizer, die_after=3)
    with pytest.raises(RuntimeError, match="killed"):
        inference.run(CFG, QUESTIONS, FixedRetriever(), lambda *a: dying)
    partial = RecordStore(results.answers_path(RUN, "micro")).keys()
    assert 0 < len(partial) < len(QUESTIONS) * len(CONFIGURATIONS)

    progress = inference.run(CFG, QUESTIONS, FixedRetriever(), lambda *a: FakeEngine(tokenizer))
    assert progress["answered_now"] == len(QUESTIONS) * len(CONFIGURATIONS) - len(partial)
    lines = [json.loads(line) for line in results.answers_path(RUN, "micro").read_text().splitlines()]
    assert len(lines) == len({line["key"] for line in lines})  # nothing written twice
    answered = {(line["question_id"], line["configuration"]) for line in lines}
    assert answered == {(q, c) for q in QUESTIONS["id"] for c in CONFIGURATIONS}  # nothing missing

    silent = FakeEngine(tokenizer, die_after=0)  # a repeated run must not call the model
    progress = inference.run(CFG, QUESTIONS, FixedRetriever(), lambda *a: silent)
    assert progress.pop("seconds").keys() == {"prompts", "batched answers", "timed requests", "repeats"}
    assert progress == {"requests": 20, "answered_now": 0, "timed_now": 0, "repeat_answers": 0,
                        "precision": "float32: forced by bf16: false"}


def test_every_request_runs_in_the_chosen_precision_and_is_timed_under_its_own_key(tokenizer):
    made = []

    def factory(model, adapter, bf16):
        made.append(bf16)
        return FakeEngine(tokenizer)

    cfg = CFG.model_copy(update={"run_name": "inference-precision", "bf16": True})
    write_manifest(artefacts.adapter_dir(cfg.run_name, "micro"), {"key": "adapter-1"})
    progress = inference.run(cfg, QUESTIONS, FixedRetriever(), factory)
    assert made == [True] and "forced by bf16: true" in progress["precision"]  # batched and timed alike
    answers = RecordStore(results.answers_path(cfg.run_name, "micro")).frame().set_index(["question_id", "configuration"])
    latency = RecordStore(results.latency_path(cfg.run_name, "micro")).frame()
    assert len(latency) == progress["timed_now"] > 0
    for row in latency.itertuples():  # a timed request is keyed apart from the answer it repeats
        assert row.key != answers.loc[(row.question_id, row.configuration), "key"]


def test_the_engine_loads_its_model_only_when_it_generates():
    engine = LocalEngine("micro", None)
    assert "model" not in vars(engine)
    engine.generate([prompts.question_prompt(engine.tokenizer, "What is Amazon SQS?")], adapter=False, max_new_tokens=2)
    assert "model" in vars(engine)


def test_rag_configurations_carry_their_passages(tokenizer):
    write_manifest(artefacts.adapter_dir(RUN, "micro"), {"key": "adapter-1"})
    inference.run(CFG, QUESTIONS, FixedRetriever(), lambda *a: FakeEngine(tokenizer))
    answers = RecordStore(results.answers_path(RUN, "micro")).frame()
    assert len(answers) == len(QUESTIONS) * len(CONFIGURATIONS)
    for row in answers.itertuples():
        assert len(row.retrieved_chunk_ids) == (2 if results.uses_rag(row.configuration) else 0)
        assert (row.adapter_key == "adapter-1") == results.uses_adapter(row.configuration)
    latency = RecordStore(results.latency_path(RUN, "micro")).frame()
    assert len(latency) == 2 * 4 and (latency["batch_size"] == 1).all() and (latency["latency_ms"] > 0).all()


def test_real_generation_records_the_tokenizers_counts(tokenizer):
    engine = LocalEngine("micro", None)
    texts = [prompts.question_prompt(tokenizer, q) for q in QUESTIONS["question"][:3]]
    generations = engine.generate(texts, adapter=False, max_new_tokens=12)
    for text, generation in zip(texts, generations):
        assert generation.input_tokens == len(prompts.encode(tokenizer, text))
        assert generation.output_tokens == len(prompts.encode(tokenizer, generation.text)) or not generation.text
        assert 0 < generation.output_tokens <= 12
    request = inference.Request("k", "q0", "rag", texts[0], tuple(FixedRetriever().retrieve("x", 2)), QUESTIONS["question"][0])
    record = inference._record(request, generations[0], CFG, "adapter-1", 3, None)
    assert list(record) == ANSWER_COLUMNS
    assert record["total_tokens"] == record["input_tokens"] + record["output_tokens"]
    assert record["adapter_key"] is None  # rag runs without the adapter


def test_batched_and_single_greedy_answers_agree(tokenizer):
    engine = LocalEngine("micro", None)
    texts = [prompts.question_prompt(tokenizer, q) for q in QUESTIONS["question"][:3]]
    batched = [g.text for g in engine.generate(texts, adapter=False, max_new_tokens=12)]
    single = [engine.generate([t], adapter=False, max_new_tokens=12)[0].text for t in texts]
    assert batched == single


def test_repeats_answer_the_fine_tuned_configurations_with_each_adapter_and_are_read_apart(tokenizer):
    run = "inference-repeats"
    cfg = CFG.model_copy(update={"run_name": run, "finetune_repeats": 3})
    write_manifest(artefacts.adapter_dir(run, "micro"), {"key": "adapter-seed-1"})
    write_manifest(artefacts.adapter_dir(run, "micro", 1), {"key": "adapter-seed-2"})
    with pytest.raises(StepNotRun, match="adapter-repeat2/manifest.json is missing: .* finetune_repeats = 3 or more first"):
        inference.run(cfg, QUESTIONS, FixedRetriever(), lambda *a: FakeEngine(tokenizer))
    write_manifest(artefacts.adapter_dir(run, "micro", 2), {"key": "adapter-seed-3"})
    progress = inference.run(cfg, QUESTIONS, FixedRetriever(), lambda *a: FakeEngine(tokenizer))
    assert progress["repeat_answers"] == len(QUESTIONS) * 2 * 2  # ft and ft_rag, two more adapters
    repeats = results.read_repeats(run, "micro")
    assert set(repeats["configuration"]) == {"ft#1", "ft_rag#1", "ft#2", "ft_rag#2"}
    assert set(repeats["adapter_key"]) == {"adapter-seed-2", "adapter-seed-3"}
    assert len(results.read_answers(run, "micro", QUESTIONS)) == len(QUESTIONS) * len(CONFIGURATIONS)  # the study's own
    inference.run(cfg.model_copy(update={"finetune_repeats": 1}), QUESTIONS, FixedRetriever(),
                  lambda *a: FakeEngine(tokenizer))
    assert results.read_repeats(run, "micro").empty  # back to one adapter: no stale repeats read


def test_fine_tuned_answers_come_from_the_adapter_merged_into_a_copy_of_the_weights(tokenizer, tmp_path):
    """`ft` runs the merged model: the unmerged adapter's logits, the base untouched, batched == single."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.manual_seed(0)  # init_lora_weights=False: a random adapter that changes the answers
    get_peft_model(models.weights("micro"), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                                                       init_lora_weights=False)).save_pretrained(tmp_path)
    engine = LocalEngine("micro", tmp_path)
    texts = [prompts.question_prompt(tokenizer, q) for q in QUESTIONS["question"][:3]]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    unmerged = PeftModel.from_pretrained(models.weights("micro"), tmp_path).eval()
    with torch.inference_mode():
        assert not any(type(m).__name__.startswith("Lora") for m in engine.tuned.modules())
        assert torch.allclose(engine.tuned(**batch).logits, unmerged(**batch).logits, atol=1e-3)
        assert torch.equal(engine.model(**batch).logits, models.weights("micro")(**batch).logits)
    tuned = [g.text for g in engine.generate(texts, adapter=True, max_new_tokens=12)]
    assert tuned != [g.text for g in engine.generate(texts, adapter=False, max_new_tokens=12)]
    assert tuned == [engine.generate([t], adapter=True, max_new_tokens=12)[0].text for t in texts]


def test_in_bfloat16_both_models_hold_every_linear_weight_cast_once(tmp_path):
    """A weight left float32 is re-cast by autocast on every forward pass: the slow path cast-once removes."""
    import torch
    from peft import LoraConfig, get_peft_model

    get_peft_model(models.weights("micro"), LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM")
                   ).save_pretrained(tmp_path)
    engine = LocalEngine("micro", tmp_path, bf16=True)
    for model in (engine.model, engine.tuned):
        linear = [m.weight.dtype for m in model.modules() if isinstance(m, torch.nn.Linear)]
        assert len(linear) > 200 and set(linear) == {torch.bfloat16}
        assert not any(p.requires_grad for p in model.parameters())
