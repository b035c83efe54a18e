"""What each speed lever of the study buys: each step's work before and after, on the same inputs, as ratios.

Levers (issue 17), each timed both ways in one process per model, best of --repeats, the two interleaved:
  cast once      bfloat16 autocast re-casts a frozen weight on every forward pass; `precision.cast_frozen_weights`
                 stores it in bfloat16 once. Checked to give the very same tokens and losses.
                   04 batched  greedy answers to 32 study-like prompts, 64 new tokens each (min = max)
                   04 timed    the latency sample's path, one request at a time, 64 new tokens: before = float32
                               (how requests were timed), after = bfloat16 over weights cast once (the run's precision)
                   03 train    LoRA steps of batch 8 (loss on the answer tokens, as in step 03)
  answer logits  03 train: the output layer at every position (the model's own loss), or only where an answer
                 token is predicted (`finetune.answer_loss`); both over weights cast once. Same loss, other rounding.
  merged adapter `ft` with the LoRA adapter (the study's r=16 on 7 modules, random weights) as peft layers, or
                 merged into a copy of the weights (`LocalEngine.tuned`); both bfloat16 over weights cast once:
                   04 batched and 04 timed as above
  lazy model     04 on a re-run with every answer stored: before = the model loaded, after = the tokenizer alone
  kept searches  the study's knowledge base (outputs/<run>/kb, made by step 02), --questions test questions:
                   04 prompts  hybrid top-5 per question: searched, or read from the kept results
                   02 table    the retrieval table (three modes, top 10): searched, or read back
The model levers need only the models; the search levers need a built knowledge base (else they are skipped).

  python benchmarks/study_speed.py                      # both models, 2 repeats; about 11 minutes on 2 cores
  python benchmarks/study_speed.py --models micro --repeats 1
Run it alone: another process on the same cores changes every figure.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from model_speed import LORA_MODULES, questions

ROWS, NEW_TOKENS, SINGLE, TRAIN_BATCH, TRAIN_STEPS = 32, 64, 3, 8, 3


def best(repeats: int, before: Callable[[], Any], after: Callable[[], Any]) -> tuple[float, float, Any, Any]:
    """Best-of-repeats seconds of each, interleaved, with what each returned on its last call."""
    times, out = {"before": [], "after": []}, {}
    for _ in range(repeats):
        for name, work in (("before", before), ("after", after)):
            started = time.perf_counter()
            out[name] = work()
            times[name].append(time.perf_counter() - started)
    return min(times["before"]), min(times["after"]), out["before"], out["after"]


def training_example(tokenizer: Any, question: str, i: int) -> dict[str, list[int]]:
    """A study-like training example: the answer is about a third of the tokens and alone counts in the loss."""
    from nova_lab.data import prompts
    from nova_lab.tuning import finetune

    answer = f"The answer is listed in entry {i} of the service model's metadata, beside its API version and protocol."
    record = {"system": [{"text": prompts.SYSTEM_PROMPT}], "messages": [{"role": "user", "content": [{"text": question}]},
                                         {"role": "assistant", "content": [{"text": answer}]}]}
    return finetune.tokenize_record(tokenizer, record, max_tokens=256)


def model_levers(name: str, repeats: int) -> list[dict[str, Any]]:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import DataCollatorForSeq2Seq

    from nova_lab.answering.inference import LocalEngine
    from nova_lab.data import prompts
    from nova_lab.tuning import finetune, models, precision

    tok_right = models.tokenizer(name)
    tok_right.padding_side = "right"
    collate = DataCollatorForSeq2Seq(tok_right, padding=True, label_pad_token_id=finetune.IGNORE, return_tensors="pt")

    plain, tok = models.load(name)
    cast = precision.cast_frozen_weights(models.weights(name))
    stops = models.stop_token_ids(name, tok)
    texts = [prompts.question_prompt(tok, q) for q in questions(ROWS)]

    def generate(model, rows: list[str], bf16: bool) -> list[list[int]]:
        enc = tok(rows, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model.generate(**enc, do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                 eos_token_id=stops, pad_token_id=tok.pad_token_id)
        return out[:, enc["input_ids"].shape[1]:].tolist()

    rows = []
    generate(plain, texts[:2], True), generate(cast, texts[:2], True)  # warm-up
    before, after, old, new = best(repeats, lambda: generate(plain, texts, True), lambda: generate(cast, texts, True))
    rows.append({"step": "04 batched", "lever": "cast once", "before_s": before, "after_s": after,
                 "same": old == new, "unit": f"{ROWS}x{NEW_TOKENS} tokens"})
    singles = texts[:SINGLE]
    before, after, _, _ = best(repeats, lambda: [generate(plain, [t], False) for t in singles],
                               lambda: [generate(cast, [t], True) for t in singles])
    rows.append({"step": "04 timed", "lever": "cast once, bf16", "before_s": before, "after_s": after,
                 "same": "other precision", "unit": f"{SINGLE} requests x {NEW_TOKENS} tokens"})

    examples = [training_example(tok, q, i) for i, q in enumerate(questions(TRAIN_BATCH * TRAIN_STEPS))]

    def train(cast_once: bool, answer_logits: bool) -> list[float]:
        torch.manual_seed(0)
        base = models.load(name)[0]
        model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_MODULES,
                                                task_type="CAUSAL_LM"))
        if cast_once:
            precision.cast_frozen_weights(model)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        losses, elapsed = [], 0.0
        for step in range(TRAIN_STEPS):
            batch = collate(examples[step * TRAIN_BATCH:(step + 1) * TRAIN_BATCH])
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = finetune.answer_loss(model, batch) if answer_logits else model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            elapsed += time.perf_counter() - started
            losses.append(loss.item())
        return [elapsed, losses]

    variants = {"plain": (False, False), "cast": (True, False), "answer": (True, True)}
    timings = {variant: [] for variant in variants}
    for _ in range(repeats):
        for variant, flags in variants.items():
            timings[variant].append(train(*flags))
    fastest = {variant: min(t[0] for t in runs) for variant, runs in timings.items()}
    losses = {variant: runs[0][1] for variant, runs in timings.items()}
    unit = f"{TRAIN_STEPS} steps of {TRAIN_BATCH}"
    rows.append({"step": "03 train", "lever": "cast once", "before_s": fastest["plain"], "after_s": fastest["cast"],
                 "unit": unit, "same": losses["plain"] == losses["cast"]})
    drift = max(abs(a - b) / a for a, b in zip(losses["cast"], losses["answer"]))
    rows.append({"step": "03 train", "lever": "answer logits", "before_s": fastest["cast"], "after_s": fastest["answer"],
                 "unit": unit, "same": f"losses within {drift:.1e}"})

    adapter = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    get_peft_model(models.weights(name), LoraConfig(r=16, lora_alpha=32, target_modules=LORA_MODULES,
                                                    task_type="CAUSAL_LM", init_lora_weights=False)).save_pretrained(adapter)
    unmerged = precision.cast_frozen_weights(PeftModel.from_pretrained(models.weights(name), adapter).eval())
    merged = LocalEngine(name, adapter, True).tuned
    before, after, old, new = best(repeats, lambda: generate(unmerged, texts, True), lambda: generate(merged, texts, True))
    rows.append({"step": "04 batched", "lever": "merged adapter", "before_s": before, "after_s": after,
                 "same": f"{sum(a == b for a, b in zip(old, new))}/{ROWS} rows", "unit": f"{ROWS}x{NEW_TOKENS} tokens"})
    before, after, _, _ = best(repeats, lambda: [generate(unmerged, [t], True) for t in singles],
                               lambda: [generate(merged, [t], True) for t in singles])
    rows.append({"step": "04 timed", "lever": "merged adapter", "before_s": before, "after_s": after,
                 "same": "other rounding", "unit": f"{SINGLE} requests x {NEW_TOKENS} tokens"})

    def loaded():
        engine = LocalEngine(name, None, True)
        return engine.model is not None

    before, after, _, _ = best(repeats, loaded, lambda: LocalEngine(name, None, True).tokenizer is not None)
    rows.append({"step": "04 re-run", "lever": "lazy model", "before_s": before, "after_s": after, "same": True,
                 "unit": "engine ready"})
    return [row | {"model": name} for row in rows]


def search_levers(run: str, n: int, repeats: int) -> list[dict[str, Any]]:
    from nova_lab.data import data_prep
    from nova_lab.retrieval import kb_build
    from nova_lab.retrieval.knowledge_base import MODES, CachedRetriever
    from nova_lab.retrieval.retrieval_eval import KS, rank_of_source, ranks_file

    try:
        retriever = kb_build.open_knowledge_base(run)
    except FileNotFoundError as missing:
        print(f"search levers skipped: {missing}", file=sys.stderr)
        return []
    test = data_prep.read_test(run, probes=False).head(n)
    key = kb_build.search_key(run, 60)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        kept = CachedRetriever(retriever, key, Path(scratch) / "results.sqlite")
        [kept.retrieve(q, 5) for q in test["question"]]  # the first model's pass keeps them
        before, after, old, new = best(repeats, lambda: [retriever.retrieve(q, 5) for q in test["question"]],
                                       lambda: [kept.retrieve(q, 5) for q in test["question"]])
        rows.append({"step": "04 prompts", "lever": "kept searches", "before_s": before, "after_s": after,
                     "same": old == new, "unit": f"{n} questions"})
    search_key = f"benchmark-{time.time()}"  # a table of its own, removed after
    rank_of_source(retriever, test, search_key=search_key)
    before, after, old, new = best(repeats, lambda: rank_of_source(retriever, test),
                                   lambda: rank_of_source(retriever, test, search_key=search_key))
    ranks_file(search_key, test, MODES, max(KS)).unlink()
    rows.append({"step": "02 table", "lever": "kept searches", "before_s": before, "after_s": after,
                 "same": old[["id", "mode", "rank"]].equals(new[["id", "mode", "rank"]]), "unit": f"{n} questions x 3 modes"})
    return [row | {"model": "both"} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["micro", "lite"], choices=["micro", "lite"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--run", default="study", help="the run whose knowledge base the search levers use")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        rows = (search_levers(args.run, args.questions, args.repeats) if args.worker == "search"
                else model_levers(args.worker, args.repeats))
        print(json.dumps(rows))
        return
    from nova_lab.tuning.precision import cpu_kind

    print(f"CPU: {cpu_kind()}; best of {args.repeats}, before and after interleaved; nothing else should run")
    print(f"{'model':6} {'step':11} {'lever':16} {'work':24} {'before s':>9} {'after s':>9} {'ratio':>7}  same result")
    for worker in [*args.models, "search"]:
        command = [sys.executable, __file__, "--worker", worker, "--repeats", str(args.repeats), "--run", args.run,
                   "--questions", str(args.questions)]
        rows = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        for r in rows:
            print(f"{r['model']:6} {r['step']:11} {r['lever']:16} {r['unit']:24} {r['before_s']:9.2f} "
                  f"{r['after_s']:9.3f} {r['before_s'] / r['after_s']:6.1f}x  {r['same']}")


if __name__ == "__main__":
    main()
