"""LoRA fine-tuning: bounds of Nova's hyperparameters, the prompt mask, learning, resuming."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from nova_lab.core import artefacts
from nova_lab.core.params import DataPrepParams, FineTuneParams, ParamsError, parse
from nova_lab.core.study_steps import StepNotRun
from nova_lab.data import data_prep
from nova_lab.data.nova_format import read_validated
from nova_lab.tuning import finetune, models

pytestmark = pytest.mark.slow  # loads and trains a model

RUN = "ft-unit"


def settings(**changes) -> dict:
    base = dict(run_name=RUN, backend="local", model="micro", seed=3, epochCount=5, learningRate=1e-4,
                learningRateWarmupSteps=0, batchSize=8, lora_r=16, lora_alpha=32, lora_dropout=0.0,
                lora_target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                eval_every_steps=2, max_seq_tokens=96, bf16=True)
    return base | changes


@pytest.mark.parametrize("key, value, bound", [
    ("epochCount", 6, "less than or equal to 5"), ("epochCount", 0, "greater than or equal to 1"),
    ("learningRate", 1e-3, "less than or equal to 0.0001"), ("learningRate", 1e-7, "greater than or equal to 0.000001"),
    ("learningRateWarmupSteps", 101, "less than or equal to 100"),
])
def test_out_of_range_hyperparameters_name_key_value_and_bound(key, value, bound):
    with pytest.raises(ParamsError, match=rf"`{key}` = {value!r}: Input should be {bound}"):
        parse(FineTuneParams, settings(**{key: value}))


@pytest.fixture(scope="module")
def data(shared_outputs):
    data_prep.prepare(DataPrepParams(run_name=RUN, backend="local", seed=1, services=["sqs"], qa_generator="template",
                                     n_train=16, train_phrasings_per_fact=2, n_validation=8, n_test=4))
    return read_validated(data_prep.nova_file(RUN, "train"))


@pytest.fixture(scope="module")
def micro():
    return models.load("micro")


def test_loss_counts_only_the_answer(data, micro):
    _, tokenizer = micro
    example = finetune.tokenize_record(tokenizer, data[0], max_tokens=256)
    counted = [t for t, label in zip(example["input_ids"], example["labels"]) if label != finetune.IGNORE]
    answer = data[0]["messages"][-1]["content"][0]["text"]
    assert tokenizer.decode(counted, skip_special_tokens=True).strip() == answer
    assert example["labels"][: len(example["labels"]) - len(counted)] == [finetune.IGNORE] * (
        len(example["labels"]) - len(counted))


@pytest.mark.parametrize("name", ["micro", "lite"])
def test_answer_loss_equals_the_models_own_loss_and_gradient(data, name):
    """Logits only at the answer positions: the same loss and LoRA gradient as the model's own (float32),
    on a right-padded batch of unequal lengths, as the trainer collates it."""
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq

    base, tokenizer = models.load(name)
    tokenizer.padding_side = "right"
    torch.manual_seed(0)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                                            task_type="CAUSAL_LM"))
    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=finetune.IGNORE)
    batch = collate([finetune.tokenize_record(tokenizer, r, max_tokens=256) for r in data[:4]])
    assert batch["attention_mask"].min() == 0  # padded: the unequal lengths are part of the check
    losses, grads = [], []
    for loss_of in (lambda: model(**batch).loss, lambda: finetune.answer_loss(model, batch)):
        model.zero_grad()
        loss = loss_of()
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert torch.allclose(grads[1], grads[0], rtol=1e-4, atol=1e-7)


def answer_loss(model, tokenizer, record) -> float:
    example = finetune.tokenize_record(tokenizer, record, max_tokens=256)
    with torch.inference_mode():
        return model(**{k: torch.tensor([v]) for k, v in example.items()}).loss.item()


class StopAfter(TrainerCallback):
    """Simulates a crash: the run dies right after step `step` (checkpoints every 2 steps)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_training_lowers_the_loss_resumes_after_a_crash_and_moves_answers(data, micro, monkeypatch):
    from peft import PeftModel

    cfg = FineTuneParams(**settings())
    real_trainer = finetune._trainer
    monkeypatch.setattr(finetune, "_trainer", lambda c, k: _with(real_trainer(c, k), StopAfter(5)))
    with pytest.raises(KeyboardInterrupt):
        finetune.fine_tune(cfg)
    monkeypatch.setattr(finetune, "_trainer", real_trainer)

    result = finetune.fine_tune(cfg)
    manifest = result.manifest
    assert manifest["resumed_from"].endswith("checkpoint-4") and manifest["steps"] == 10
    assert manifest["validation_loss_after"] < manifest["validation_loss_before"]

    base, tokenizer = micro
    tuned = PeftModel.from_pretrained(models.load("micro")[0], artefacts.adapter_dir(RUN, "micro")).eval()
    before = [answer_loss(base, tokenizer, record) for record in data]
    after = [answer_loss(tuned, tokenizer, record) for record in data]
    assert sum(after) / len(after) < sum(before) / len(before) - 0.05  # the training loss went down
    assert after[0] < before[0] - 0.1  # and a training answer moved toward its reference

    assert finetune.fine_tune(cfg).manifest["reused"] is True  # nothing changed: no training
    shared = json.loads((artefacts.adapter_dir(RUN, "micro") / "adapter_config.json").read_text())
    assert shared["base_model_name_or_path"] == models.MODELS["micro"].description  # not a folder of this machine

    from nova_lab.answering import inference  # the adapter's weights removed by hand: no longer"reused", made again
    (artefacts.adapter_dir(RUN, "micro") / "adapter_model.safetensors").unlink()
    with pytest.raises(StepNotRun, match="incomplete .* run notebooks/03_fine_tune"):
        inference.adapter_key(RUN, "micro")  # 04 says "run 03 again", not an unrelated loading error
    assert finetune.fine_tune(cfg).manifest["reused"] is False
    assert inference.adapter_key(RUN, "micro") == manifest["key"]


def test_the_same_settings_start_from_the_same_adapter(data):
    """LoRA's initial weights are drawn from the seed, not from whatever the process drew before (an earlier run in
    the same kernel, a first model conversion): that was the run-to-run noise of the pinned figures."""
    cfg = FineTuneParams(**settings())

    def initial_lora() -> dict:
        model = finetune._trainer(cfg, "same-start").model
        return {name: value.detach().clone() for name, value in model.named_parameters() if "lora_A" in name}

    first = initial_lora()
    torch.rand(1000)  # another draw in between
    second = initial_lora()
    assert first and all(torch.equal(first[name], second[name]) for name in first)


def test_a_checkpoint_torn_while_saving_is_set_aside_and_the_one_before_used(tmp_path):
    for step in (2, 4, 6):
        (tmp_path / f"checkpoint-{step}").mkdir()
        for name in finetune.CHECKPOINT_FILES:
            (tmp_path / f"checkpoint-{step}" / name).write_text("saved")
    (tmp_path / "checkpoint-6" / "trainer_state.json").unlink()  # Ctrl-C while checkpoint-6 was being saved
    assert finetune.last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert (tmp_path / "set-aside-checkpoint-6").is_dir() and not (tmp_path / "checkpoint-6").exists()
    assert finetune.last_complete_checkpoint(tmp_path / "none yet") is None


def test_a_max_seq_tokens_that_cuts_every_answer_is_refused_with_the_numbers(data, micro):
    _, tokenizer = micro
    examples = [finetune.tokenize_record(tokenizer, record, 32) for record in data]
    with pytest.raises(ParamsError, match=r"max_seq_tokens = 32 cuts every answer token from 16 of the 16 training"):
        finetune.check_answers_kept(examples, 32)
    finetune.check_answers_kept([finetune.tokenize_record(tokenizer, r, 256) for r in data], 256)


def test_a_restarted_then_resumed_run_trains_the_uninterrupted_adapter(tmp_path, monkeypatch):
    """Stopped after `validation_loss_before.json` was written but before a whole checkpoint, 03 trains again from
    the start, and stopped after a checkpoint it resumes from it: either way it stores the adapter an uninterrupted
    run stores under the same key, and names the checkpoint it resumed from relative to the outputs folder."""
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "outputs"))
    data_prep.prepare(DataPrepParams(run_name="resume", backend="local", seed=1, services=["sqs"],
                                     qa_generator="template", n_train=16, train_phrasings_per_fact=2, n_validation=8,
                                     n_test=4))
    cfg = FineTuneParams(**settings(run_name="resume", epochCount=2, lora_r=4, lora_alpha=8, lora_dropout=0.05,
                                    lora_target_modules=["q_proj", "v_proj"], bf16=False, finetune_repeats=1))
    adapter = artefacts.adapter_dir("resume", "micro")
    uninterrupted = finetune.fine_tune(cfg).manifest
    weights = load_file(adapter / "adapter_model.safetensors")

    shutil.rmtree(adapter)  # the restart: the loss before training is on disk, no checkpoint is
    checkpoints = artefacts.path(artefacts.CHECKPOINTS, "resume", "micro") / uninterrupted["key"]
    for checkpoint in checkpoints.glob("checkpoint-*"):
        shutil.rmtree(checkpoint)
    assert (checkpoints / "validation_loss_before.json").exists()
    real_trainer = finetune._trainer
    monkeypatch.setattr(finetune, "_trainer", lambda c, k: _with(real_trainer(c, k), StopAfter(3)))
    with pytest.raises(KeyboardInterrupt):
        finetune.fine_tune(cfg)
    monkeypatch.setattr(finetune, "_trainer", real_trainer)
    resumed = finetune.fine_tune(cfg).manifest

    assert resumed["key"] == uninterrupted["key"]
    assert resumed["resumed_from"] == f"outputs/resume/micro/checkpoints/{resumed['key']}/checkpoint-2"
    assert resumed["validation_loss_after"] == uninterrupted["validation_loss_after"]
    again = load_file(adapter / "adapter_model.safetensors")
    assert all(again[name].equal(weights[name]) for name in weights)


def _with(trainer, callback):
    trainer.add_callback(callback)
    return trainer
