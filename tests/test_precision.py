"""bf16: auto chooses by a measurement on this CPU, once per machine; the choice is part of what is cached."""

import json

import pandas as pd
import pytest

from nova_lab.answering import inference
from nova_lab.core import paths
from nova_lab.core.params import InferenceParams, ParamsError, load_params
from nova_lab.tuning import models, precision


def test_forced_settings_are_not_measured(monkeypatch):
    monkeypatch.setattr(precision, "measure", lambda: pytest.fail("a forced setting must not measure"))
    assert precision.choose(True).bf16 is True
    assert precision.choose(False).bf16 is False
    assert "forced" in precision.choose(False).reason


@pytest.mark.parametrize("timings, chosen", [
    ({"float32_ms": 36.0, "bf16_ms": 10.0}, True),   # AVX512-BF16 that pays: 3.6x
    ({"float32_ms": 30.0, "bf16_ms": 99.0}, False),  # no fast bf16 kernels: about 3x slower
    ({"float32_ms": 30.0, "bf16_ms": 28.0}, False),  # a tie is not worth bfloat16's rounding
])
def test_auto_takes_bf16_only_when_it_is_clearly_faster_and_says_why(timings, chosen):
    choice = precision._decide(timings, "this CPU", "2026-11-30")
    assert choice.bf16 is chosen
    assert f"{timings['float32_ms']} vs {timings['bf16_ms']} ms" in choice.reason
    assert choice.reason.startswith("bfloat16 (auto)" if chosen else "float32 (auto)")


def test_a_machine_measures_once_and_then_reads_its_choice(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_MODEL_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(precision, "measure", lambda trials=7: calls.append(1) or {"float32_ms": 30.0, "bf16_ms": 99.0})
    first, second = precision.choose("auto"), precision.choose("auto")
    assert first == second and first.bf16 is False and len(calls) == 1
    [key] = json.loads((tmp_path / "bf16_choice.json").read_text())
    assert key.startswith(precision.cpu_kind()) and key.endswith(precision.RULE)


def test_a_torn_cache_file_is_measured_again_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_MODEL_CACHE", str(tmp_path))
    (tmp_path / "bf16_choice.json").write_text('{"AMD EPYC; avx2": {"bf1')
    monkeypatch.setattr(precision, "measure", lambda trials=7: {"float32_ms": 36.0, "bf16_ms": 10.0})
    assert precision.choose("auto").bf16 is True
    assert len(json.loads((tmp_path / "bf16_choice.json").read_text())) == 1


def test_a_ratio_near_the_threshold_is_measured_again_before_it_decides(monkeypatch, tmp_path):
    monkeypatch.setenv("NOVA_LAB_MODEL_CACHE", str(tmp_path))
    runs = iter([{"float32_ms": 30.0, "bf16_ms": 26.0}, {"float32_ms": 29.0, "bf16_ms": 20.0}])  # 1.15x, then 1.45x
    monkeypatch.setattr(precision, "measure", lambda trials=7: next(runs))
    choice = precision.choose("auto")
    assert choice.bf16 is True and "29.0 vs 20.0 ms" in choice.reason  # the best of both measurements


def test_the_measurement_times_both_precisions():
    timings = precision.measure()
    assert set(timings) == {"float32_ms", "bf16_ms"} and all(ms > 0 for ms in timings.values())


def test_bf16_takes_true_false_or_auto_only(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {paths.PARAMS / 'study.yaml'}\nbf16: sometimes\n")
    with pytest.raises(ParamsError, match=r"`bf16` = 'sometimes': Input should be True, False or 'auto'"):
        load_params(bad)


def test_batched_answers_in_another_precision_are_other_answers():
    """An answer made in bfloat16 is not reused for float32 (the key says which precision made it)."""
    tokenizer = models.tokenizer("micro")
    engine = type("Engine", (), {"tokenizer": tokenizer})()
    retriever = type("Retriever", (), {"retrieve": lambda self, q, k: []})()
    questions = pd.DataFrame({"id": ["q1"], "question": ["What is the API version of Amazon SQS?"]})
    cfg = InferenceParams(run_name="x", backend="local", model="micro", seed=1, rag_top_k=2, rrf_k=60,
                          max_new_tokens=12, batch_size=3, latency_sample=0, bf16=False)
    keys = {bf16: [r.key for r in inference.build_requests(engine, questions, retriever,
                                                           cfg.model_copy(update={"bf16": bf16}), "adapter")]
            for bf16 in (True, False)}
    assert not set(keys[True]) & set(keys[False])


@pytest.mark.slow  # loads and generates with micro
def test_weights_cast_once_give_autocasts_very_tokens_and_leave_the_input_embedding_float32():
    import torch

    from nova_lab.data import prompts

    plain, tokenizer = models.load("micro")
    cast = precision.cast_frozen_weights(models.load("micro")[0].requires_grad_(False))
    assert cast.get_input_embeddings().weight.dtype == torch.float32
    assert cast.lm_head.weight.dtype == torch.bfloat16 and cast.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    texts = [prompts.question_prompt(tokenizer, q) for q in ("What is the API version of Amazon SQS?",
                                                               "Which protocol does the AWS Lambda API use?")]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        tokens = [m.generate(**batch, do_sample=False, max_new_tokens=16, pad_token_id=tokenizer.pad_token_id)
                  for m in (plain, cast)]
    assert torch.equal(tokens[0], tokens[1])
