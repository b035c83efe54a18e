"""Step 03 offline: LoRA fine-tuning with peft on the Nova training file.

Reads the very JSONL a Bedrock customization job would take, through the same validator.
Loss counts only the assistant's tokens, and the output layer runs only where they are (`answer_loss`).
Checkpoints are keyed by every input of the run,
so an interrupted run resumes from its last checkpoint and a finished one is reused.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from nova_lab.core import artefacts, paths
from nova_lab.core.caching import fingerprint, fresh_manifest, write_manifest
from nova_lab.core.params import FineTuneParams, ParamsError
from nova_lab.core.results import FineTuneResult
from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.data import prompts
from nova_lab.data.data_prep import data_digests, nova_file
from nova_lab.data.nova_format import read_validated
from nova_lab.tuning import models, precision

if TYPE_CHECKING:
    from transformers import Trainer

# 2: the output layer only at answer positions (`answer_loss`); 3: a run restarted before its first checkpoint
# trains what an uninterrupted one trains (under 2 it did not, and its adapter must not be reused)
FINETUNE_VERSION = 3
IGNORE = -100  # label of tokens that do not count in the loss


def tokenize_record(tokenizer: Any, record: dict, max_tokens: int) -> dict[str, list[int]]:
    """One Nova record as input ids and labels; labels are IGNORE except on the answer."""
    system = " ".join(block["text"] for block in record.get("system", []))
    turns = [{"role": m["role"], "content": " ".join(b["text"] for b in m["content"])} for m in record["messages"]]
    head = prompts.encode(tokenizer, prompts.render(tokenizer, prompts.messages(turns[-2]["content"], system=system)))
    full = prompts.encode(tokenizer, prompts.render(tokenizer, prompts.messages(
        turns[-2]["content"], turns[-1]["content"], system=system)))
    if full[: len(head)] != head:
        raise ValueError("the chat template does not extend the prompt with the answer; cannot mask the prompt")
    full = full[:max_tokens]
    labels = [IGNORE] * len(head) + full[len(head):]
    return {"input_ids": full, "attention_mask": [1] * len(full), "labels": labels[: len(full)]}


def load_split(run_name: str, split: str, tokenizer: Any, max_tokens: int) -> list[dict[str, list[int]]]:
    return [tokenize_record(tokenizer, r, max_tokens) for r in read_validated(nova_file(run_name, split))]


MIN_SHARE_WITH_ANSWER = 0.9  # below this, max_seq_tokens cuts away what the run is meant to teach


def check_answers_kept(examples: list[dict[str, list[int]]], max_tokens: int) -> None:
    """Refuse a `max_seq_tokens` that cuts the whole answer off many examples: such a run trains on
    nothing (loss 0, validation NaN) and step 04 would still use its adapter as `ft`."""
    cut = [e for e in examples if all(label == IGNORE for label in e["labels"])]
    if examples and len(cut) > (1 - MIN_SHARE_WITH_ANSWER) * len(examples):
        prompts_from = min(len(e["input_ids"]) for e in cut)
        raise ParamsError(f"max_seq_tokens = {max_tokens} cuts every answer token from {len(cut)} of the {len(examples)} "
                          f"training examples (their prompts alone take {prompts_from} tokens or more): raise "
                          f"max_seq_tokens (params/study.yaml uses 256)")


def last_complete_checkpoint(output_dir: Path) -> str | None:
    """The newest checkpoint that was saved whole; a torn one (a run stopped while saving it) is set
    aside as `set-aside-checkpoint-N`, so the run resumes from the one before instead of failing on it."""
    if not output_dir.exists():
        return None
    found = sorted((p for p in output_dir.glob("checkpoint-*") if p.name.removeprefix("checkpoint-").isdigit()),
                   key=lambda p: int(p.name.removeprefix("checkpoint-")), reverse=True)
    for checkpoint in found:
        if all((checkpoint / name).is_file() for name in CHECKPOINT_FILES):
            return str(checkpoint)
        checkpoint.rename(checkpoint.with_name(f"set-aside-{checkpoint.name}"))
        print(f"nova-lab: {paths.shareable(checkpoint)} was not saved whole (a stopped run?): set aside, resuming "
              f"from the one before")
    return None


CHECKPOINT_FILES = ("trainer_state.json", "adapter_model.safetensors", "optimizer.pt", "scheduler.pt")


def run_key(cfg: FineTuneParams) -> str:
    assert isinstance(cfg.bf16, bool), "resolve bf16 (precision.choose) before keying the adapter"
    data = list(data_digests(cfg.run_name).values())
    # the stand-in is keyed by its description, so an adapter keeps its key whether the params name it or not
    settings = cfg.model_dump(exclude={"run_name", "backend", "bedrock", "eval_every_steps", "finetune_repeats",
                                       "stand_in"})
    return fingerprint(FINETUNE_VERSION, models.spec(cfg.local_model).description, data, settings)


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """The causal LM loss on the answer tokens, with the output layer run only at the positions that predict one.

    The model's own loss computes logits at every position and then ignores all but the answer's. Answers are
    about a third of the real tokens, and lite's output layer (640 x 262,144) costs more per token than the rest
    of the model, so most of that work was thrown away. Same mean cross-entropy as `model(labels=...)` (tested
    equal in float32); in bfloat16 only the rounding differs.
    """
    import torch

    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    counted = targets != IGNORE
    logits = causal.get_output_embeddings()(hidden[:, :-1][counted]).float()
    if cap := getattr(causal.config, "final_logit_softcapping", None):
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, targets[counted])


def _trainer(cfg: FineTuneParams, key: str) -> Trainer:
    # imported here: a re-run that reuses the adapter never trains, and these imports take seconds
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    class AnswerLossTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import torch

            # accelerate puts autocast around the model's forward; answer_loss calls its parts, so it is put here
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.args.bf16):
                loss = answer_loss(model, inputs)
            return (loss, {"loss": loss}) if return_outputs else loss

    base, tokenizer = models.load(cfg.local_model)
    tokenizer.padding_side = "right"
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target_modules, task_type="CAUSAL_LM")
    args = TrainingArguments(
        output_dir=str(artefacts.path(artefacts.CHECKPOINTS, cfg.run_name, cfg.model) / key),
        num_train_epochs=cfg.epochCount, learning_rate=cfg.learningRate, warmup_steps=cfg.learningRateWarmupSteps,
        per_device_train_batch_size=cfg.batchSize, per_device_eval_batch_size=cfg.batchSize,
        eval_strategy="steps", eval_steps=cfg.eval_every_steps, save_strategy="steps", save_steps=cfg.eval_every_steps,
        logging_steps=max(1, cfg.eval_every_steps // 2), save_total_limit=2, seed=cfg.seed, use_cpu=True,
        report_to=[], include_num_input_tokens_seen="non_padding", dataloader_num_workers=0, bf16=cfg.bf16,
    )
    set_seed(cfg.seed)  # LoRA's initial weights are drawn here, before Trainer seeds: same seed, same adapter
    model = get_peft_model(base, lora)
    if cfg.bf16:  # the frozen base weights in bfloat16 once, not at every step (the same numbers)
        precision.cast_frozen_weights(model)
    return AnswerLossTrainer(
        model=model, args=args,
        train_dataset=load_split(cfg.run_name, "train", tokenizer, cfg.max_seq_tokens),
        eval_dataset=load_split(cfg.run_name, "validation", tokenizer, cfg.max_seq_tokens),
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE),
    )


def fine_tune(cfg: FineTuneParams) -> FineTuneResult:
    """Train (or resume, or reuse) the LoRA adapter, then those of the other repeats (seed + 1, ...); returns the
    study's adapter's manifest, with each repeat's seed and validation loss under `repeats`, and its loss history."""
    choice = precision.choose(cfg.bf16)
    cfg = cfg.model_copy(update={"bf16": choice.bf16})  # the key and the manifest say what ran, not `auto`
    result = _fine_tune_one(cfg, 0)
    repeats = [_fine_tune_one(cfg.model_copy(update={"seed": cfg.seed + r}), r).manifest
               for r in range(1, cfg.finetune_repeats)]
    summary = [{"repeat": r, "seed": m["hyperparameters"]["seed"], "validation_loss_after": m["validation_loss_after"],
                "reused": m["reused"]} for r, m in enumerate([result.manifest, *repeats])]
    return FineTuneResult(result.manifest | {"repeats": summary, "precision": choice.reason}, result.history)


def _fine_tune_one(cfg: FineTuneParams, repeat: int) -> FineTuneResult:
    """Train one adapter, or reuse it. The loss before training is measured whenever training starts from step 0,
    a restart after a stop before the first checkpoint included: that evaluation draws from torch's generator (its
    data loader's seed), so skipping it would give the training other random numbers (data order, dropout) and
    store a different adapter under the same key. A resume from a checkpoint restores the generators saved with it,
    and reads the loss before from the file kept beside the checkpoints."""
    key = run_key(cfg)
    folder = artefacts.adapter_dir(cfg.run_name, cfg.model, repeat)
    if (kept := fresh_manifest(folder, key)) is not None:
        return FineTuneResult(kept | {"reused": True}, pd.read_parquet(folder / "history.parquet"))
    trainer = _trainer(cfg, key)
    check_answers_kept(trainer.train_dataset, cfg.max_seq_tokens)
    checkpoint = last_complete_checkpoint(Path(trainer.args.output_dir))
    before_file = Path(trainer.args.output_dir) / "validation_loss_before.json"
    if checkpoint is None or not before_file.exists():  # training from step 0 (why: the docstring)
        before_file.parent.mkdir(parents=True, exist_ok=True)
        before_file.write_text(json.dumps(trainer.evaluate()["eval_loss"]))
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    final_eval = trainer.evaluate()["eval_loss"]
    history = pd.DataFrame(trainer.state.log_history)
    folder.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(folder)
    _name_base_model(folder / "adapter_config.json", cfg.local_model)
    history.to_parquet(folder / "history.parquet")
    train_losses = history["loss"].dropna() if "loss" in history else pd.Series(dtype=float)
    manifest = {
        "key": key, "model": cfg.model, "base_model": models.spec(cfg.local_model).description,
        "stands_for": STUDY_MODELS[cfg.model].converse_id,
        "data": data_digests(cfg.run_name),
        "hyperparameters": cfg.model_dump(exclude={"run_name", "backend", "bedrock", "finetune_repeats", "stand_in"}),
        "steps": trainer.state.global_step, "resumed_from": paths.shareable(Path(checkpoint)) if checkpoint else None,
        "validation_loss_before": json.loads(before_file.read_text()), "validation_loss_after": final_eval,
        "train_loss_first": float(train_losses.iloc[0]) if len(train_losses) else None,
        "train_loss_last": float(train_losses.iloc[-1]) if len(train_losses) else None,
        "train_runtime_s": round(output.metrics["train_runtime"], 1),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "tokens_seen": int(trainer.state.num_input_tokens_seen),
    }
    write_manifest(folder, manifest)
    return FineTuneResult(manifest | {"reused": False}, history)


def _name_base_model(config: Path, model: str) -> None:
    """peft writes the base model's folder (a path on this machine) into the adapter's config; name the
    model instead, so a shared adapter says what it adapts (loading passes the base model itself)."""
    settings = json.loads(config.read_text())
    settings["base_model_name_or_path"] = models.spec(model).description
    config.write_text(json.dumps(settings, indent=2, sort_keys=True))


def plot_losses(history: pd.DataFrame) -> plt.Figure:
    curves = pd.concat([
        history[["step", "loss"]].dropna().assign(split="train").rename(columns={"loss": "value"}),
        history[["step", "eval_loss"]].dropna().assign(split="validation").rename(columns={"eval_loss": "value"}),
    ])
    figure, axes = plt.subplots(figsize=(6, 3.2))
    sns.lineplot(data=curves, x="step", y="value", hue="split", marker="o", ax=axes)
    axes.set(ylabel="loss (answer tokens)", title="LoRA fine-tuning")
    return figure
