"""Offline stand-ins side by side on a run's questions at base: how Lite's (Qwen2.5-Coder 0.5B Instruct) was chosen.

First Lite's stand-in's provenance: the joined GGUF file (size and sha256, the PyPI wheels it came from, upstream and
licence), the GGUF's own metadata (general.name, architecture, file type, tensor quantizations, layers, context length,
vocabulary, end of sequence, chat template) and the loaded model (parameters, whether the output layer is tied to the
input embedding). Then each model of --models answers the test questions of a study run: the answerable ones and the
unanswerable probes that step 01 wrote (outputs/<run>/data/qa.parquet, read as step 04 reads it), in the `base`
configuration (no RAG, no adapter), with the study's prompt (prompts.question_prompt) and generation (LocalEngine:
greedy, the run's max_new_tokens and batch_size, float32, stopped at the model's stop tokens). The offline judges of
step 05 (fact_check, semantic, overlap) score the answers on judges.Items built as step 05 builds them; the panel score of an
answer is the mean of the judges that score it (on a probe, the fact check alone: 10 when the answer declines).

Printed, per model and per question kind (qa.kind_of: exact value, which operation, what it does, unanswerable) and
over all answerable questions: questions, mean panel score, share scored 7 or more, share that decline (probes only),
mean answer length in the model's own tokens, share that hit max_new_tokens; then 5 questions' answers side by side.
--limit N takes the first N questions with the kinds interleaved, so a small N still holds every kind.

The run's settings are its outputs/<run>/params.json (written by `nova-lab study`), else params/<run>.yaml; a run
with neither is refused. Step 01 alone is enough: `nova-lab run 01 --params params/smoke.yaml` (seconds).
Answers are not cached and nothing is timed here: model_speed.py measures speed.

  python benchmarks/lite_candidate.py --run smoke --models lite micro gemma3_270m --limit 40 --out /tmp/answers.csv
  python benchmarks/lite_candidate.py --run study --limit 100 --max-new-tokens 64
"""
from __future__ import annotations

import argparse
import gc
import json
import textwrap
from collections import Counter
from typing import Any

import pandas as pd

from nova_lab.answering.inference import Generation, LocalEngine
from nova_lab.core import artefacts, paths
from nova_lab.core.params import load_params
from nova_lab.data import data_prep, prompts
from nova_lab.data.qa import UNANSWERABLE
from nova_lab.judging import fabrication, verdicts
from nova_lab.judging.judges import JUDGES
from nova_lab.tuning import models

CANDIDATE = "qwen25_coder_05b"
PANEL = ("fact_check", "semantic", "overlap")  # the offline panel of params/study.yaml
KIND_ORDER = ("exact value", "which operation", "what it does", UNANSWERABLE)
GOOD = 7  # a panel score of 7 or more counts as a good answer
EXAMPLES = 5


def run_settings(run: str) -> tuple[int, int, str]:
    """(max_new_tokens, batch_size, where they were read) of the run: its params.json, else params/<run>.yaml."""
    recorded = artefacts.path(artefacts.PARAMS, run)
    if recorded.exists():
        shared = json.loads(recorded.read_text())["shared"]
        return shared["max_new_tokens"], shared["batch_size"], paths.shareable(recorded)
    file = paths.PARAMS / f"{run}.yaml"
    if not file.exists():
        raise SystemExit(f"run {run!r} has no {paths.shareable(recorded)} and there is no {paths.shareable(file)}: "
                         f"run the study (or its step 01) with params whose run_name is {run!r}")
    params = load_params(file)
    if params.run_name != run:
        raise SystemExit(f"{paths.shareable(file)} is for run {params.run_name!r}, not {run!r}")
    return params.max_new_tokens, params.batch_size, paths.shareable(file)


def pick(test: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """The first `limit` questions with the kinds interleaved (round-robin over KIND_ORDER), every one without it."""
    rank = test.groupby("kind").cumcount()
    kind = test["kind"].map({k: i for i, k in enumerate(KIND_ORDER)}).fillna(len(KIND_ORDER))
    ordered = test.assign(_rank=rank, _kind=kind).sort_values(["_rank", "_kind"], kind="stable")
    return ordered.drop(columns=["_rank", "_kind"]).head(limit)


def parameters(model: Any) -> tuple[int, bool]:
    """(distinct parameters, whether the output layer shares the input embedding's weights)."""
    count = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    output, embedding = model.get_output_embeddings(), model.get_input_embeddings()
    return count, output is not None and output.weight.data_ptr() == embedding.weight.data_ptr()


def provenance(engine: LocalEngine) -> None:
    import gguf

    source = models.QWEN05
    path = models.spec(CANDIDATE).gguf_file()  # joined and checked against the expected size and sha256
    digest = models.file_sha256(path)
    reader = gguf.GGUFReader(path)

    def field(key: str) -> Any:
        found = reader.fields.get(key)
        return None if found is None else found.contents()

    arch = field("general.architecture")
    file_type = field("general.file_type")
    tensors = Counter(t.tensor_type.name for t in reader.tensors)
    names = {t.name for t in reader.tensors}
    tokens = reader.fields["tokenizer.ggml.tokens"]
    eos = field("tokenizer.ggml.eos_token_id")
    template = field("tokenizer.chat_template") or ""
    count, tied = parameters(engine.model)
    rows = [
        ("file", f"{paths.shareable(path)}"),
        ("size", f"{path.stat().st_size:,} bytes (expected {source.size:,})"),
        ("sha256", f"{digest} ({'as expected' if digest == source.sha256 else f'EXPECTED {source.sha256}'})"),
        ("from", f"PyPI {', '.join(source.packages)} {source.version}: the .bin of each wheel, joined in this order"),
        ("upstream", source.upstream),
        ("licence", source.licence),
        ("GGUF", f"v{field('GGUF.version')}, {len(reader.tensors)} tensors, general.name {field('general.name')!r}"),
        ("architecture", arch),
        ("file type", f"{file_type} = {gguf.LlamaFileType(file_type).name}" if file_type is not None else "-"),
        ("tensor types", ", ".join(f"{n} {name}" for name, n in tensors.most_common())),
        ("layers", field(f"{arch}.block_count")),
        ("context length", field(f"{arch}.context_length")),
        ("hidden size", field(f"{arch}.embedding_length")),
        ("vocabulary", f"{len(tokens.data):,} tokens; eos id {eos} = {engine.tokenizer.convert_ids_to_tokens(eos)!r}"),
        ("chat template", f"in the GGUF ({len(template):,} characters, "
                          f"{'ChatML' if '<|im_start|>' in template else 'not ChatML'})" if template else "none"),
        ("output layer", f"own tensor (output.weight: {'present' if 'output.weight' in names else 'absent'})"),
        ("loaded model", f"{type(engine.model).__name__}, {count:,} parameters, output tied to the input embedding: "
                         f"{'yes' if tied else 'no'} (config tie_word_embeddings={engine.model.config.tie_word_embeddings})"),
        ("stop tokens", ", ".join(f"{i} {engine.tokenizer.convert_ids_to_tokens(i)!r}" for i in engine.stop_ids)),
    ]
    print(f"# {CANDIDATE}: provenance")
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    print()


def answer(engine: LocalEngine, questions: pd.DataFrame, max_new_tokens: int, batch_size: int) -> pd.DataFrame:
    """Each question's base answer (no RAG, no adapter), prompts batched by length as step 04 batches them."""
    texts = {q.id: prompts.question_prompt(engine.tokenizer, q.question) for q in questions.itertuples()}
    order = sorted(texts, key=lambda qid: len(prompts.encode(engine.tokenizer, texts[qid])))
    made: dict[str, Generation] = {}
    for start in range(0, len(order), batch_size):
        ids = order[start: start + batch_size]
        made.update(zip(ids, engine.generate([texts[i] for i in ids], adapter=False, max_new_tokens=max_new_tokens)))
    return pd.DataFrame([{"key": f"{engine.name}/{qid}", "model": engine.name, "question_id": qid,
                          "answer": made[qid].text, "output_tokens": made[qid].output_tokens,
                          "hit_cap": not made[qid].stopped and made[qid].output_tokens >= max_new_tokens}
                         for qid in questions["id"]])


def score(answers: pd.DataFrame, questions: pd.DataFrame) -> pd.DataFrame:
    """The answers with each offline judge's score (NaN where it does not score that kind), the panel score and,
    on a probe, whether it declines."""
    items = verdicts.items(answers, questions)
    scored = answers.copy()
    for name in PANEL:
        judge = JUDGES[name]()
        mine = [item for item in items if judge.scores(item)]
        given = dict(zip((item.answer_key for item in mine), judge.judge(mine)))
        scored[name] = [given[key].score if key in given else float("nan") for key in scored["key"]]
    scored["panel"] = scored[list(PANEL)].mean(axis=1)  # over the judges that score it
    kinds = questions.set_index("id")[["kind", "stratum", "question", "reference_answer"]]
    scored = scored.join(kinds, on="question_id")
    probe = scored["stratum"] == UNANSWERABLE
    scored["outcome"] = [fabrication.outcome(a) if p else "" for a, p in zip(scored["answer"], probe)]
    return scored


def table(scored: pd.DataFrame, model_order: list[str]) -> pd.DataFrame:
    def row(group: pd.DataFrame) -> dict[str, Any]:
        probes = group[group["stratum"] == UNANSWERABLE]
        return {"n": len(group), "panel mean": group["panel"].mean(), f"share {GOOD}+": (group["panel"] >= GOOD).mean(),
                "declines (probes)": (probes["outcome"] == fabrication.DECLINES).mean() if len(probes) else None,
                "mean tokens": group["output_tokens"].mean(), "hit cap": group["hit_cap"].mean()}

    rows = []
    for model in model_order:
        mine = scored[scored["model"] == model]
        kinds = [k for k in KIND_ORDER if k in set(mine["kind"])] + sorted(set(mine["kind"]) - set(KIND_ORDER))
        for kind in kinds:
            rows.append({"model": model, "kind": kind, **row(mine[mine["kind"] == kind])})
        answerable = mine[mine["stratum"] != UNANSWERABLE]
        if len(answerable):
            rows.append({"model": model, "kind": "all answerable", **row(answerable)})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    def cell(value: Any, column: str) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "-"
        if column in ("panel mean", "mean tokens"):
            return f"{value:.1f}"
        if isinstance(value, float):
            return f"{value:.0%}"
        return str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "|".join("---" if c in ("model", "kind") else "---:"
                                                                    for c in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v, c) for c, v in zip(frame.columns, r)) + " |" for r in frame.itertuples(index=False)]
    return "\n".join(lines)


def examples(scored: pd.DataFrame, questions: pd.DataFrame, model_order: list[str]) -> None:
    """EXAMPLES questions, spread over the kinds (pick's order), with each model's answer and panel score."""
    chosen = pick(questions, EXAMPLES)
    by_key = scored.set_index(["question_id", "model"])
    width = max(map(len, [*model_order, "reference"]))
    for n, q in enumerate(chosen.itertuples(), 1):
        print(f"{n}. [{q.kind}] {q.question}")
        print(textwrap.fill(q.reference_answer, 118, initial_indent=f"   {'reference':<{width}}  ",
                            subsequent_indent=" " * (width + 5)))
        for model in model_order:
            got = by_key.loc[(q.id, model)]
            text = (got["answer"] or "(empty)").replace("\n", " / ")
            label = f"{model:<{width}}  [{got['panel']:.1f}{', cap' if got['hit_cap'] else ''}] "
            print(textwrap.fill(text, 118, initial_indent=f"   {label}", subsequent_indent=" " * (width + 5)))
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    known = [*models.MODELS, *models.STAND_INS]
    parser.add_argument("--run", default="smoke", help="the study run whose test questions are asked (default smoke)")
    parser.add_argument("--models", nargs="+", default=["lite", "micro", "gemma3_270m"], choices=known)
    parser.add_argument("--limit", type=int, help="ask only the first N questions (kinds interleaved)")
    parser.add_argument("--max-new-tokens", type=int, help="instead of the run's max_new_tokens")
    parser.add_argument("--out", help="save every answer with its scores to this CSV file")
    args = parser.parse_args()
    model_order = list(dict.fromkeys(args.models))

    max_new_tokens, batch_size, source = run_settings(args.run)
    max_new_tokens = args.max_new_tokens or max_new_tokens
    test = data_prep.read_test(args.run)
    questions = pick(test, args.limit)
    print(f"run {args.run!r}: {len(questions)} of its {len(test)} test questions "
          f"({', '.join(f'{n} {k}' for k, n in questions['kind'].value_counts().items())}); "
          f"greedy, max_new_tokens {max_new_tokens}{' (--max-new-tokens)' if args.max_new_tokens else ''}, "
          f"batch {batch_size}, float32 (settings from {source})\n")

    candidate = LocalEngine(CANDIDATE, None)
    provenance(candidate)
    engines = {CANDIDATE: candidate} if CANDIDATE in model_order else {}  # its loaded model answers too
    del candidate
    answered, sizes = [], {}
    for model in model_order:
        engine = engines.pop(model, None) or LocalEngine(model, None)
        count, tied = parameters(engine.model)
        sizes[model] = f"{model}: {models.spec(model).description}; {count / 1e6:.1f}M parameters, output " \
                       f"{'tied' if tied else 'untied'}"
        answered.append(answer(engine, questions, max_new_tokens, batch_size))
        del engine
        gc.collect()
    scored = score(pd.concat(answered, ignore_index=True), questions)

    print("# models\n" + "\n".join(f"  {line}" for line in sizes.values()) + "\n")
    print(f"# base answers (no RAG, no adapter) by kind: panel = mean of {' and '.join(PANEL)} (0-10)\n")
    print(markdown(table(scored, model_order)) + "\n")
    print(f"# {EXAMPLES} questions, each model's answer [panel score]\n")
    examples(scored, questions, model_order)
    if args.out:
        columns = ["model", "question_id", "kind", "stratum", "question", "reference_answer", "answer",
                   "output_tokens", "hit_cap", *PANEL, "panel", "outcome"]
        scored[columns].to_csv(args.out, index=False)
        print(f"answers: {args.out}")


if __name__ == "__main__":
    main()
