"""`nova-lab plan`: every resource and request of a Bedrock run with its cost, offline, and the budget guard."""

import pytest

from nova_lab import graded_set, paths
from nova_lab.bedrock import plan, pricing
from nova_lab.cli import main
from nova_lab.params import ParamsError, load_params
from nova_lab.study import run_study

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
    asked = params.n_test + params.n_probes
    expected = (asked * plan.PROMPT_TOKENS * 0.035 + asked * params.max_new_tokens * 0.14) / 1e6
    assert base["usd"] == pytest.approx(expected)
    training = table[table["call"] == "CreateModelCustomizationJob"].iloc[0]
    tokens = params.n_train * plan.TRAINING_RECORD_TOKENS * params.epochCount
    assert training["usd"] == pytest.approx(tokens / 1000 * 0.001 + 1.95)
    assert built.total_usd == pytest.approx(table["usd"].sum())


def test_llm_written_qa_and_the_judges_check_set_are_priced():
    params = load_params(*SMOKE_BEDROCK)
    table = plan.build(params, ["micro", "lite"]).table()
    assert not table["what"].str.startswith("Q&A pairs").any()  # template Q&A: no LLM call in 01
    checks = table[table["what"].str.contains("check set")]
    assert len(checks) == len(params.bedrock.judge_models)  # the check set is judged once for both models
    assert (checks["count"] == params.meta_eval_questions * 6).all()
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
    from nova_lab.params import STEP_PARAMS, for_step

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


def test_a_run_over_budget_refuses_to_start(tmp_path):
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
