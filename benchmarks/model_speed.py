"""CPU speed of the local stand-in models (micro, lite): decode, prefill and LoRA training throughput.

Same synthetic prompts for every model (AWS-style questions through prompts.render, no data files). Each model runs
in a fresh subprocess, so its peak RSS (ru_maxrss high-water mark, model load included) is its own.
  decode b1 / bN  = greedy generation of exactly N new tokens (min_new_tokens = max_new_tokens): rows*N/wall time,
                    prefill of the short prompt included; b1 runs a few prompts one at a time. ratio = bN / b1
                    (project target >= 6x).
  prefill         = one forward pass (logits of the last position only) over 4 prompts of 512 tokens: tokens/s.
  LoRA train      = peft LoRA r=16 on q,k,v,o,gate,up,down; AdamW lr 1e-4; batch 8 of ~70-token chat records
                    (loss on all tokens); 1 warmup step, then non-padding tokens/s over 5 timed steps.
fp32 by default; --bf16 wraps generation, prefill and training forward in torch.autocast("cpu", bfloat16) over
frozen weights cast to bfloat16 once (precision.cast_frozen_weights), as steps 03 and 04 run them.
Every measurement is warmed up once first. --threads N sets torch's threads (try 1 when another process holds
one of 2 cores: oversubscribed threads can be several times slower, above all in training).

  NOVA_LAB_MODEL_CACHE=/tmp/nl-models python benchmarks/model_speed.py --models micro lite --batch 32 --new-tokens 64
  python benchmarks/model_speed.py --models micro --batch 64 --bf16 --decode-only
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

SERVICES = ("Amazon SQS", "Amazon S3", "AWS Lambda", "Amazon DynamoDB", "Amazon EC2", "Amazon SNS", "AWS KMS",
            "Amazon ECS", "AWS Glue", "Amazon Kinesis", "Amazon RDS", "AWS Step Functions", "Amazon Bedrock",
            "AWS IAM", "Amazon CloudWatch", "Amazon Route 53")
ASKS = ("What is the API version of {}?", "Which protocol does the {} API use?",
        "What is the endpoint prefix of {}?", "Which signing name does {} use for SigV4?")
PARAGRAPH = ("Each AWS service model lists its operations, shapes and metadata such as the API version, the "
             "protocol, the endpoint prefix and the signature version used to sign requests. ")
LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
B1_PROMPTS, PREFILL_BATCH, PREFILL_TOKENS, TRAIN_BATCH, TRAIN_STEPS = 4, 4, 512, 8, 5


def questions(n: int) -> list[str]:
    combos = [ask.format(s) for ask in ASKS for s in SERVICES]  # 64 distinct; cycled past that
    return [combos[i % len(combos)] for i in range(n)]


def worker(name: str, batch: int, new_tokens: int, bf16: bool, decode_only: bool, threads: int) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model

    from nova_lab.data import prompts
    from nova_lab.tuning import models, precision

    if threads:
        torch.set_num_threads(threads)
    model, tok = models.load(name)
    if bf16:
        precision.cast_frozen_weights(model)
    stops = models.stop_token_ids(name, tok)
    cast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)  # noqa: E731
    texts = [prompts.question_prompt(tok, q) for q in questions(max(batch, 32))]

    def generate(rows: list[str], n: int) -> float:
        enc = tok(rows, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        started = time.perf_counter()
        with torch.inference_mode(), cast():
            out = model.generate(**enc, do_sample=False, max_new_tokens=n, min_new_tokens=n, eos_token_id=stops,
                                 pad_token_id=tok.pad_token_id)
        assert out.shape[1] - enc["input_ids"].shape[1] == n
        return time.perf_counter() - started

    generate(texts[:1], 8), generate(texts[:batch], 8)  # warm-up
    b1 = B1_PROMPTS * new_tokens / sum(generate([t], new_tokens) for t in texts[:B1_PROMPTS])
    bn = batch * new_tokens / generate(texts[:batch], new_tokens)
    result: dict[str, Any] = {"b1": b1, "bn": bn}
    if not decode_only:
        long = [prompts.encode(tok, prompts.render(tok, prompts.messages(q + "\n\n" + PARAGRAPH * 30)))[:PREFILL_TOKENS]
                for q in questions(PREFILL_BATCH)]
        ids = torch.tensor(long)
        with torch.inference_mode(), cast():
            model(input_ids=ids[:1], logits_to_keep=1)  # warm-up
            started = time.perf_counter()
            model(input_ids=ids, logits_to_keep=1)
            result["prefill"] = ids.numel() / (time.perf_counter() - started)

        records = [prompts.encode(tok, prompts.render(tok, prompts.messages(
            q, f"The answer for this service is listed in its service model metadata, entry {i}.")))
            for i, q in enumerate(questions(TRAIN_BATCH * (TRAIN_STEPS + 1)))]
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_MODULES, task_type="CAUSAL_LM")
        peft_model = get_peft_model(models.load(name)[0], lora)  # a fresh model: training casts after wrapping
        if bf16:
            precision.cast_frozen_weights(peft_model)
        peft_model.train()
        optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)
        pad = tok.pad_token_id
        seen, elapsed = 0, 0.0
        for step in range(TRAIN_STEPS + 1):
            rows = records[step * TRAIN_BATCH:(step + 1) * TRAIN_BATCH]
            width = max(map(len, rows))
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
            labels = ids.masked_fill(mask == 0, -100)
            started = time.perf_counter()
            with cast():
                loss = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step:  # step 0 is the warm-up
                elapsed += time.perf_counter() - started
                seen += int(mask.sum())
        result |= {"train": seen / elapsed, "train_seq": seen / (TRAIN_STEPS * TRAIN_BATCH), "loss": loss.item()}
    result["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return result


def main() -> None:
    from nova_lab.tuning import models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["micro", "lite"], choices=[*models.MODELS, *models.STAND_INS])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--decode-only", action="store_true", help="skip prefill and LoRA training")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.batch, args.new_tokens, args.bf16, args.decode_only, args.threads)))
        return
    import torch

    dtype = "bf16" if args.bf16 else "fp32"
    threads = args.threads or torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, {dtype}, batch {args.batch}, {args.new_tokens} new tokens\n")
    print("| model | dtype | decode b1 tok/s | decode b{0} tok/s | b{0}/b1 | prefill tok/s | LoRA train tok/s "
          "| peak RSS MiB |".format(args.batch))
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in args.models:
        command = [sys.executable, __file__, "--worker", name, "--batch", str(args.batch),
                   "--new-tokens", str(args.new_tokens), "--threads", str(args.threads),
                   "--bf16" if args.bf16 else "--no-bf16"]
        command += ["--decode-only"] if args.decode_only else []
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            print(f"| {name} | {dtype} | failed: {done.stderr.strip().splitlines()[-1:]} |||||")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        fmt = lambda key: f"{r[key]:.0f}" if key in r else "-"  # noqa: E731
        print(f"| {name} | {dtype} | {r['b1']:.1f} | {r['bn']:.0f} | {r['bn'] / r['b1']:.1f}x | {fmt('prefill')} "
              f"| {fmt('train')} | {r['rss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
