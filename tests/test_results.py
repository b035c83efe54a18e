"""The current result is exactly what the last settings produce: step 04 sets the keys its settings make,
05 the panel it used, and every reader takes exactly those (never the last record appended, never a
judge that is no longer on the panel); a record still missing is an error that names the step to run."""

import json

import pandas as pd
import pytest

from nova_lab.analysis import statistics
from nova_lab.answering import inference
from nova_lab.answering.inference import Generation
from nova_lab.core import artefacts, results
from nova_lab.core.caching import write_manifest
from nova_lab.core.params import InferenceParams, JudgingParams
from nova_lab.core.records import RecordStore, UnreadableRecordWarning
from nova_lab.core.results import CONFIGURATIONS
from nova_lab.core.study_steps import StepNotRun
from nova_lab.data import data_prep, prompts
from nova_lab.judging import verdicts
from nova_lab.judging.judges import FactCheckJudge, Verdict
from nova_lab.retrieval.knowledge_base import Passage
from nova_lab.tuning import models

RUN = "current-result"
QUESTIONS = pd.DataFrame({
    "id": ["q1", "q2", "q3"], "split": "test", "stratum": ["seen", "unseen", "seen"], "fact_type": "protocol",
    "kind": "exact value",
    "question": ["Which protocol does Amazon SQS use?", "Which protocol does Amazon SNS use?",
                 "Which protocol does AWS Lambda use?"],
    "reference_answer": ["Amazon SQS uses json.", "Amazon SNS uses query.", "AWS Lambda uses rest-json."],
    "key_facts": [["json"], ["query"], ["rest-json"]], "source_doc_id": ["sqs/_service", "sns/_service", "lambda/_service"],
})


class Retriever:
    def retrieve(self, query, k=5, mode="hybrid"):
        return [Passage(f"sqs/_service#{n}", "sqs/_service", f"Passage {n}", 1.0 / (n + 1)) for n in range(k)]


class Engine:
    """Answers that say which settings made them; `calls` counts model calls."""

    def __init__(self, tokenizer, adapter_name):
        self.tokenizer, self.adapter_name, self.calls = tokenizer, adapter_name, 0

    def generate(self, texts, adapter, max_new_tokens, bf16=False):
        self.calls += 1
        made_by = f"{max_new_tokens} tokens, adapter {self.adapter_name if adapter else 'off'}"
        return [Generation(f"json ({made_by})", len(prompts.encode(self.tokenizer, t)), 3, True) for t in texts]


class Always(FactCheckJudge):
    name = "always_five"

    def judge(self, items):
        return [Verdict(5.0, "five") for _ in items]


@pytest.fixture(scope="module")
def tokenizer():
    return models.tokenizer("micro")


@pytest.fixture
def run(monkeypatch, tmp_path, tokenizer):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path))
    QUESTIONS.to_parquet(data_prep.data_dir(RUN) / "qa.parquet")

    def step_04(adapter="A", **settings):
        write_manifest(artefacts.adapter_dir(RUN, "micro"), {"key": adapter})
        cfg = InferenceParams(run_name=RUN, backend="local", model="micro", seed=1, rrf_k=60, batch_size=2, bf16=False,
                              **({"rag_top_k": 2, "max_new_tokens": 64, "latency_sample": 2} | settings))
        engine = Engine(tokenizer, adapter)
        inference.run(cfg, QUESTIONS, Retriever(), lambda *a: engine)
        return engine.calls

    return step_04


def answers():
    return results.read_answers(RUN, "micro", QUESTIONS)


def test_back_to_earlier_settings_reads_the_earlier_answers_and_timings(run):
    assert run(max_new_tokens=64) > 0 and run(max_new_tokens=32) > 0
    assert run(max_new_tokens=64) == 0  # every answer is stored: no model call ...
    assert answers()["answer"].str.contains(r"\(64 tokens").all()  # ... and the 64-token answers are read
    assert len(answers()) == len(QUESTIONS) * len(CONFIGURATIONS)
    latency = results.read_latency(RUN, "micro", QUESTIONS)
    assert len(latency) == 2 * len(CONFIGURATIONS) and (latency["max_new_tokens"] == 64).all()


def test_a_rag_top_k_change_and_back(run):
    run(rag_top_k=2), run(rag_top_k=3)
    assert run(rag_top_k=2) == 0
    rag = answers()[answers()["configuration"].map(results.uses_rag)]
    assert rag["retrieved_chunk_ids"].map(len).eq(2).all()
    timed = results.read_latency(RUN, "micro", QUESTIONS)
    assert timed[timed["configuration"].map(results.uses_rag)]["retrieved_chunk_ids"].map(len).eq(2).all()


def test_a_retrained_then_reverted_adapter(run):
    run(adapter="A"), run(adapter="B")
    assert run(adapter="A") == 0
    fine_tuned = answers()[answers()["configuration"].map(results.uses_adapter)]
    assert (fine_tuned["adapter_key"] == "A").all() and fine_tuned["answer"].str.endswith("adapter A)").all()


def test_a_missing_answer_is_an_error_that_names_step_04(run):
    run()
    results.set_current(RUN, "micro", answers=["never-made", *answers()["key"]])  # 04 stopped before making it
    with pytest.raises(StepNotRun, match="04_inference"):
        answers()


def test_the_analysis_reads_only_the_panel_05_last_used(run):
    run()
    cfg = JudgingParams(run_name=RUN, backend="local", model="micro", judges=["semantic", "fact_check"],
                        meta_eval_questions=2)
    verdicts.run(cfg, answers(), QUESTIONS, [FactCheckJudge(), Always()])
    verdicts.run(cfg, answers(), QUESTIONS, [FactCheckJudge()])  # the panel changed: always_five is off it
    loaded = statistics.load(RUN, ["micro"])
    assert loaded.judges == ["fact_check"] and set(loaded.scores["judge"]) == {"fact_check"}
    assert (loaded.answers["quality"] == loaded.answers["fact_check"]).all()


def test_a_verdict_missing_from_the_panel_is_an_error_that_names_step_05(run):
    run()
    results.set_current(RUN, "micro", judges=["fact_check"])  # 05 set its panel, then stopped before judging
    with pytest.raises(StepNotRun, match="05_judging"):
        statistics.load(RUN, ["micro"])


def test_a_torn_last_answer_is_made_again_on_a_line_of_its_own(run):
    run()
    path = results.answers_path(RUN, "micro")
    path.write_bytes(path.read_bytes()[:-30])  # a crash mid-write: the last record torn
    assert run() == 1  # the torn answer is made again ...
    assert len(answers()) == len(QUESTIONS) * len(CONFIGURATIONS)  # ... and kept, not appended onto the torn line
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_unreadable_lines_are_named_and_their_records_made_again(run):
    run()
    path = results.answers_path(RUN, "micro")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b"\xff\xfe not utf-8\n"
    lines[2] = json.dumps({"answer": "a record without its key"}).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    with pytest.warns(UnreadableRecordWarning, match=r"answers\.jsonl: skipped 2 .*line 2 \(not UTF-8\).*line 3 \(no \"key\"\)"):
        assert run() > 0
    with pytest.warns(UnreadableRecordWarning):
        assert len(answers()) == len(QUESTIONS) * len(CONFIGURATIONS)


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path):
    store = RecordStore(tmp_path / "a.jsonl")
    store.path.write_text('{"key": "a", "answer": "1"}')
    store.append([{"key": "b", "answer": "2"}])
    assert store.keys() == {"a", "b"}
