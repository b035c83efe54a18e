"""`nova-lab plan`: every resource and request of a Bedrock run with its cost, offline, and the budget guard."""

import re

import pytest

from nova_lab.cli import main
from nova_lab.core import paths
from nova_lab.core.params import DataPrepParams, ParamsError, for_step, load_params
from nova_lab.costing import plan, pricing
from nova_lab.data.data_prep import build_qa, load_corpus
from nova_lab.judging import graded_set, judges, meta_eval
from nova_lab.runner import run_study

SMOKE_BEDROCK = (paths.PARAMS / "micro.yaml", paths.PARAMS / "smoke.yaml", paths.PARAMS / "bedrock.yaml")


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_plan_lists_every_step_and_prices_the_tokens():
    params = load_params(*SMOKE_BEDROCK)
    built = plan.build(params, ["micro"])
    table = built.table()
    assert set(table["notebook"]) == {"01_data_prep", "02_kb_build", "03_fine_tune", "04_inference", "05_judging"}
    converse = table[(table["call"] == "Converse") & (table["notebook"] == "04_inference")]
    assert sorted(converse["what"]) == sorted(f"micro {c}" for c in ("base", "rag", "ft", "ft_rag"))
    assert (converse["count"] == params.n_test + params.n_probes).all()  # the probes are answered too
    base = converse[converse["what"] == "micro base"].iloc[0]
    asked, sizes = params.n_test + params.n_probes, plan.count_prompts(params)
    expected = (asked * sizes.answer * 0.035 + asked * params.max_new_tokens * 0.14) / 1e6
    assert base["usd"] == pytest.approx(expected)
    training = table[table["call"] == "CreateModelCustomizationJob"].iloc[0]
    tokens = params.n_train * sizes.training_record * params.epochCount
    assert training["usd"] == pytest.approx(tokens / 1000 * 0.001 + 1.95)
    assert built.total_usd == pytest.approx(table["usd"].sum())


def test_llm_written_qa_and_the_judges_check_set_are_priced():
    params = load_params(*SMOKE_BEDROCK)
    table = plan.build(params, ["micro", "lite"]).table()
    assert not table["what"].str.startswith("Q&A pairs").any()  # template Q&A: no LLM call in 01
    checks = table[table["what"].str.contains("check set")]
    assert len(checks) == len(params.bedrock.judge_models)  # the check set is judged once for both models
    check_answers = plan.count_prompts(params).checks[0]  # the answers of known rank step 05 makes, six at most a question
    assert (checks["count"] == check_answers).all() and 0 < check_answers <= params.meta_eval_questions * 6
    graded = table[table["what"].str.contains("blind-graded")]  # once per run, every judge of the panel
    assert len(graded) == len(params.bedrock.judge_models) and (graded["count"] == len(graded_set.read())).all()
    llm_qa = plan.build(params.model_copy(update={"qa_generator": "bedrock"}), ["micro"]).table()
    line = llm_qa[llm_qa["what"].str.startswith("Q&A pairs")].iloc[0]
    facts = -(-params.n_train // params.train_phrasings_per_fact) + params.n_validation + params.n_test
    assert line["count"] == facts and line["usd"] > 0


def test_llm_qa_generation_needs_the_bedrock_backend():
    with pytest.raises(ParamsError, match="qa_generator = 'bedrock' needs backend = 'bedrock'"):
        load_params(paths.PARAMS / "study.yaml", _write_overlay("qa_generator: bedrock\n"))


def test_every_step_gets_the_bedrock_section():
    from nova_lab.core.params import STEP_PARAMS, for_step

    params = load_params(*SMOKE_BEDROCK)
    for step, model in STEP_PARAMS.items():
        cfg = model(**for_step(params, step))
        assert cfg.backend == "bedrock" and cfg.bedrock.bucket == "my-nova-lab-bucket", step


def test_provisioned_throughput_only_with_opt_in():
    params = load_params(*SMOKE_BEDROCK)
    calls = set(plan.build(params, ["micro"]).table()["call"])
    assert "CreateCustomModelDeployment" in calls and "CreateProvisionedModelThroughput" not in calls
    opted = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={"allow_provisioned_throughput": True})})
    lines = plan.build(opted, ["micro"]).table().set_index("call")
    assert lines.loc["CreateProvisionedModelThroughput", "usd"] == pytest.approx(60.50 * opted.bedrock.serving_hours)


def test_a_run_over_budget_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "outputs"))  # its own: another test may have run smoke
    overlay = tmp_path / "tight.yaml"
    overlay.write_text(f"extends: {paths.PARAMS / 'smoke.yaml'}\nbackend: bedrock\nfinetune_repeats: 1\nbedrock:\n  bucket: my-nova-lab-bucket\n"
                       "  role_arn: arn:aws:iam::123456789012:role/NovaLabBedrock\n  max_usd: 0.5\n")
    with pytest.raises(plan.BudgetExceeded, match="exceeds max_usd = 0.5"):
        run_study(("micro",), overlay)
    assert not (paths.outputs_root() / "smoke").exists()  # refused before anything ran


def test_cli_plan_works_offline_on_a_local_params_file(capsys):
    assert main(["plan", "--params", str(paths.PARAMS / "micro.yaml"), str(paths.PARAMS / "smoke.yaml")]) == 0
    out = capsys.readouterr().out
    assert "using params/bedrock.yaml's" in out and "CreateModelCustomizationJob" in out
    assert "estimated total: $" in out and "within budget" in out


def test_bedrock_settings_are_validated_by_name():
    with pytest.raises(ParamsError) as error:
        load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml",
                    _write_overlay("bedrock:\n  bucket: Bad_Bucket\n  role_arn: nope\n  max_usd: 5\n  concurency: 2\n"))
    text = str(error.value)
    assert "`bedrock.bucket` = 'Bad_Bucket'" in text and "`bedrock.role_arn` = 'nope'" in text
    assert "unknown key `bedrock.concurency`" in text and "did you mean concurrency?" in text


def test_an_overlay_changes_one_bedrock_key_and_keeps_the_rest():
    params = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml",
                         _write_overlay("bedrock:\n  recording: off\n  concurrency: 2\n"))  # YAML reads off as false
    assert (params.bedrock.recording, params.bedrock.concurrency) == ("off", 2)
    assert params.bedrock.bucket == "my-nova-lab-bucket" and params.bedrock.max_usd == 50


def test_unknown_model_price_is_named():
    with pytest.raises(pricing.UnknownPrice, match="no price for 'acme.model/input'"):
        pricing.cost("acme.model/input", 10)


def _write_overlay(text: str):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "overlay.yaml"
    path.write_text(text)
    return path


def test_an_opensearch_collection_is_priced_from_02_until_teardown():
    """It bills while the customization jobs run too, not only for the serving hours."""
    params = load_params(*SMOKE_BEDROCK)
    opensearch = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={
        "vector_store": "opensearch_serverless"})})
    line = plan.build(opensearch, ["micro", "lite"]).table().set_index("service").loc["opensearchserverless"]
    hours = 2 * plan.CUSTOMIZATION_HOURS + params.bedrock.serving_hours
    assert hours > params.bedrock.serving_hours and f"for {hours:g} h" in line["what"]
    assert line["usd"] == pytest.approx(2 * hours * pricing.price("opensearch-serverless/ocu-hour").usd)


def test_chunks_and_rag_prompts_follow_chunk_tokens():
    params = load_params(*SMOKE_BEDROCK)
    small, large = (plan.build(params.model_copy(update={"chunk_tokens": size, "chunk_overlap": 0}), ["micro"]).table()
                    for size in (64, 256))
    rag = [t[t["what"] == "micro rag"].iloc[0]["usd"] for t in (small, large)]
    ingestion = [t[t["call"] == "StartIngestionJob"].iloc[0]["what"] for t in (small, large)]
    assert rag[0] < rag[1] and ingestion[0] != ingestion[1]


def test_s3_vectors_queries_pay_for_the_data_they_process():
    params = load_params(*SMOKE_BEDROCK)
    line = plan.build(params, ["micro"]).table().query("notebook == '04_inference' and call == 'Retrieve'").iloc[0]
    per_call = pricing.cost("s3-vectors/query", line["count"])
    assert line["usd"] > per_call
    assert "s3-vectors/query-data" in " ".join(plan.build(params, ["micro"]).unverified_prices())


def _judged_tokens(items: list[judges.Item]) -> float:
    """The judge prompts of these items by the plan's stated rule, built here as the judge builds them."""
    return sum(len(judges.judge_prompt(item)) for item in items) / plan.CHARS_PER_TOKEN


def test_each_judge_prompt_is_counted_from_the_text_the_judge_reads():
    """Rubric, question, reference and an answer of max_new_tokens, for the planned test questions: not a constant."""
    params = load_params(*SMOKE_BEDROCK)
    qa = build_qa(DataPrepParams(**for_step(params, "01_data_prep")), load_corpus(params.services))
    test = qa[qa["split"] == "test"]
    answer = "x" * (plan.CHARS_PER_TOKEN * params.max_new_tokens)  # max_new_tokens tokens by the same rule
    per_answer = _judged_tokens([judges.Item("", q, ref, (), answer)
                                 for q, ref in zip(test["question"], test["reference_answer"])]) / len(test)
    on_demand = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={"invocation": "on_demand"})})
    table = plan.build(on_demand, ["micro"]).table().set_index("what")  # tokens counted against on-demand quotas
    judge = params.bedrock.judge_models[0]
    line = table.loc[f"judge {judge} on micro's answers"]
    assert line["tokens"] == round(line["count"] * (per_answer + plan.JUDGE_REPLY_TOKENS))
    assert per_answer > len(judges.RUBRIC) / plan.CHARS_PER_TOKEN + params.max_new_tokens
    graded = graded_set.items(graded_set.read())  # the committed answers: their own prompts, whatever their length
    line = table.loc[f"judge {judge} on the blind-graded answers (once for all models)"]
    assert line["tokens"] == round(_judged_tokens(graded) + len(graded) * plan.JUDGE_REPLY_TOKENS)


def test_with_invocation_batch_the_steps_of_100_records_or_more_are_batch_jobs_at_half_price():
    params = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml")
    on_demand = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={"invocation": "on_demand"})})
    batch, each = (plan.build(p, ["micro"]).table().set_index("what") for p in (params, on_demand))
    judge = params.bedrock.judge_models[0]
    for what in ("micro base", "micro rag", f"judge {judge} on micro's answers",
                 f"judge {judge} on the blind-graded answers (once for all models)",
                 f"judge {judge} on the check set of answers of known rank (once for all models)"):
        line = batch.loc[f"{what} (batch job)"]
        assert line["call"] == "CreateModelInvocationJob" and line["count"] >= 100
        assert line["usd"] == pytest.approx(each.loc[what, "usd"] * pricing.BATCH_SHARE)
        assert line["tokens"] == 0  # not drawn from the on-demand tokens per minute or per day
    for what in ("micro ft", "micro ft_rag"):  # a custom model: no batch
        assert batch.loc[what, "call"] == "Converse" and batch.loc[what, "usd"] == pytest.approx(each.loc[what, "usd"])
    assert plan.build(params, ["micro"]).total_usd < plan.build(on_demand, ["micro"]).total_usd


def test_the_study_judge_prompt_is_about_420_tokens_not_330():
    """The study's own questions and 64-token answers: the rubric alone is ~290 tokens (the old constant was 330)."""
    sizes = plan.count_prompts(load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml"))
    assert sizes.judge == pytest.approx(418, rel=0.05)
    assert sizes.answer == pytest.approx(43, rel=0.05) and sizes.training_record == pytest.approx(66, rel=0.05)
    assert sizes.checks[0] <= 300 * len(meta_eval.VARIANTS)


def test_judges_are_priced_at_the_route_they_are_called_through():
    """A us. profile of Claude Sonnet 4.6 costs 10% more than the same tokens through its global. profile."""
    params = load_params(*SMOKE_BEDROCK)
    routes = ["us.anthropic.claude-sonnet-4-6", "global.anthropic.claude-sonnet-4-6"]
    both = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={"judge_models": routes})})
    built = plan.build(both, ["micro"])
    table = built.table().set_index("what")
    us, world = (table.loc[f"judge {route} on micro's answers"] for route in routes)
    assert us["usd"] == pytest.approx(1.1 * world["usd"]) and us["count"] == world["count"]
    unconfirmed = "\n".join(built.unverified_prices())
    assert "us.anthropic.claude-sonnet-4-6/input: $3.3 per 1M tokens" in unconfirmed and "x1.1" in unconfirmed


def test_a_fine_tuned_nova_2_lite_is_priced_at_its_deployment_not_the_us_profile():
    """The base model is asked through the us. profile (with its premium); the fine-tuned one through an in-Region
    on-demand deployment, at the foundation model's rate."""
    params = load_params(*SMOKE_BEDROCK)
    table = plan.build(params, ["nova2_lite"]).table().set_index("what")
    base, tuned = table.loc["nova2_lite base"], table.loc["nova2_lite ft"]
    assert base["usd"] == pytest.approx(1.1 * tuned["usd"]) and base["count"] == tuned["count"]


def test_tokens_by_model_are_the_converse_tokens_of_each_model_called():
    """What a tokens-per-day quota must hold, per model id as called (preflight compares the two)."""
    params = load_params(*SMOKE_BEDROCK)
    built = plan.build(params, ["micro", "lite"])
    tokens = plan.tokens_by_model(built)
    assert set(tokens) == {"amazon.nova-micro-v1:0", "amazon.nova-lite-v1:0", *params.bedrock.judge_models}
    table = built.table()
    judged = table[table["what"].str.startswith(f"judge {params.bedrock.judge_models[0]} ")]
    assert tokens[params.bedrock.judge_models[0]] == pytest.approx(judged["tokens"].sum(), abs=len(judged))


def own_study(tmp_path, drop_test: int = 0):
    """The smoke study's corpus and Q&A set as your folder and file (what `nova-lab export` writes), less
    `drop_test` test questions."""
    from nova_lab.data.documents import write_folder
    from nova_lab.data.questions import write_questions

    params = load_params(*SMOKE_BEDROCK)
    corpus = load_corpus(params.services)
    qa = build_qa(DataPrepParams(**for_step(params, "01_data_prep")), corpus)
    qa = qa.drop(qa[qa["split"] == "test"].index[:drop_test])
    write_folder(corpus.documents, tmp_path / "docs")
    write_questions(qa, tmp_path / "qa.csv")
    return params.model_copy(update={"documents": str(tmp_path / "docs"), "questions": str(tmp_path / "qa.csv")}), qa


def test_the_plan_of_a_study_on_your_documents_counts_your_files_questions(tmp_path):
    params, qa = own_study(tmp_path, drop_test=3)
    table = plan.build(params, ["micro"]).table()
    test = qa[qa["split"] == "test"]
    converse = table[(table["call"] == "Converse") & (table["notebook"] == "04_inference")]
    assert (converse["count"] == len(test)).all()  # your test questions, not n_test + n_probes
    assert f"{(qa['split'] == 'train').sum()} records" in table[table["call"] == "CreateModelCustomizationJob"].iloc[0]["what"]
    built_in = plan.build(load_params(*SMOKE_BEDROCK), ["micro"]).table()
    assert (built_in[(built_in["call"] == "Converse") & (built_in["notebook"] == "04_inference")]["count"]
            == len(test) + 3).all()


def test_pairs_an_llm_writes_from_your_documents_are_priced_per_section(tmp_path):
    from nova_lab.data.documents import SECTION_CHARS, read_folder, sections

    params, _ = own_study(tmp_path)
    params = params.model_copy(update={"questions": None, "qa_generator": "bedrock"})
    table = plan.build(params, ["micro"]).table()
    line = table[table["what"].str.startswith("Q&A pairs")].iloc[0]
    documents = read_folder(tmp_path / "docs").documents
    assert line["count"] == sum(len(sections(text, SECTION_CHARS)) for text in documents["text"]) and line["usd"] > 0
    assert "from your documents, one call per section" in line["what"]


def test_a_step_of_fewer_than_100_records_for_a_model_stays_on_demand():
    params = load_params(*SMOKE_BEDROCK)  # 16 test questions: 32 base-model answers, 64 verdicts a judge
    table = plan.build(params, ["micro"]).table().set_index("what")
    judge = params.bedrock.judge_models[0]
    assert table.loc["micro base", "call"] == table.loc[f"judge {judge} on micro's answers", "call"] == "Converse"
    assert table.loc[f"judge {judge} on the blind-graded answers (once for all models) (batch job)", "count"] >= 100


def test_the_plan_prices_ten_times_the_test_set_beside_the_planned_one_on_both_routes(capsys):
    params = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml")
    table = plan.at_scale(params, ["micro", "lite"]).set_index(["test questions", "invocation"])
    assert list(table.index) == [(300, "on_demand"), (300, "batch"), (3000, "on_demand"), (3000, "batch")]
    assert table.loc[(300, "batch"), "usd"] == round(plan.build(params, ["micro", "lite"]).total_usd, 2)
    for size in (300, 3000):
        assert table.loc[(size, "batch"), "usd"] < table.loc[(size, "on_demand"), "usd"]
        assert table.loc[(size, "batch"), "on-demand tokens, 05_judging"] == 0  # every verdict in a job
        assert table.loc[(size, "on_demand"), "batch jobs"] == 0
    # a job per model's answers, per judge and model, per judge for the check and graded sets: 2 + 4 + 4
    assert table.loc[(3000, "batch"), "batch jobs"] == 10
    assert table.loc[(3000, "on_demand"), "usd"] > 4 * table.loc[(300, "on_demand"), "usd"]
    assert main(["plan", "--params", str(paths.PARAMS / "study.yaml"), str(paths.PARAMS / "bedrock.yaml")]) == 0
    out = capsys.readouterr().out
    assert "this study and one with 10x its test questions" in out
    jobs = out.split("batch inference jobs (one a model and step", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"micro answers +amazon\.nova-micro-v1:0 +720\n", jobs)  # base and RAG: 2 x 360 in one job
    assert len(jobs.strip().splitlines()) == 1 + 1 + 10  # its title, the header, the 10 jobs
