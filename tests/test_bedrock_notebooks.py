"""The notebooks with `backend: bedrock`, end to end and with no account: the smoke study is recorded
against a fake Bedrock (tests/fake_aws, answering inside each notebook's kernel with responses
validated against the service models), then replayed from the recording alone into a fresh
outputs tree, with no credentials, and rendered. A request the notebooks make differently on
replay has no recorded answer and fails the run."""

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fake_aws import iam_rules
from fake_aws.fake_bedrock import ACCOUNT, REGION, requests_log
from nova_lab import runner
from nova_lab.bedrock import evaluation, iam
from nova_lab.core import paths, results
from nova_lab.core.notebook_utils import read_notebook
from nova_lab.core.params import load_params
from nova_lab.judging import graded_set
from nova_lab.runner import run_study

pytestmark = pytest.mark.slow  # runs the smoke study's notebooks against a fake Bedrock

MODELS = tuple(load_params(paths.PARAMS / "study.yaml").models)  # the study's two sizes

FAKE_AWS = Path(__file__).parent / "fake_aws"


def overlay(folder: Path, mode: str) -> Path:
    path = folder / f"bedrock-{mode}.yaml"
    path.write_text(f"extends: {paths.PARAMS / 'smoke.yaml'}\nbackend: bedrock\nfinetune_repeats: 1\nqa_generator: bedrock\nbedrock:\n"
                    "  bucket: nova-lab-test-bucket\n  role_arn: arn:aws:iam::123456789012:role/NovaLabBedrock\n"
                    f"  study_tag: unit\n  max_usd: 50\n  concurrency: 2\n  recording: {mode}\n")
    return path


@pytest.fixture
def no_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def stores(run_name: str, model: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    test = pd.read_parquet(paths.run_dir(run_name, "data") / "qa.parquet").query("split == 'test'")
    answers = results.read_answers(run_name, model, test).sort_values("key").reset_index(drop=True)
    latency = results.read_latency(run_name, model, test).sort_values("key").reset_index(drop=True)
    verdicts = pd.read_json(results.judgments_path(run_name, model), lines=True).sort_values("key").reset_index(drop=True)
    return answers, latency, verdicts


def unauthorised(requests: Path, params_file: Path) -> tuple[list[str], set[tuple[str, str, str]]]:
    """Every request the fake answered, checked as IAM would against the policies `nova-lab iam-policy`
    prints for these params (iam_rules.py)."""
    params = load_params(params_file)
    logged = [json.loads(line) for line in requests.read_text().splitlines()]
    return iam_rules.refusals([(r["service"], r["operation"], r["params"]) for r in logged], iam.policies(params),
                              ACCOUNT, REGION)


def test_a_recorded_bedrock_study_replays_offline_and_renders(tmp_path, monkeypatch, no_credentials, capsys):
    recorded, replayed = tmp_path / "recorded", tmp_path / "replayed"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_AWS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("NOVA_LAB_FAKE_AWS", str(tmp_path / "fake-aws.pickle"))
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(recorded))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # a recording is made with an account's credentials
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # the preflight asks the real Bedrock (tested with Stubber in test_preflight.py); the fake lives in the kernels
    monkeypatch.setattr(runner, "bedrock_preflight", lambda params, models, planned: None)
    run_study(MODELS, overlay(tmp_path, "record"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run_name = "smoke"
    recording = paths.run_dir(run_name, "bedrock") / "recording.jsonl"
    operations = {json.loads(line)["operation"] for line in recording.read_text().splitlines()}
    state = json.loads((paths.run_dir(run_name, "bedrock") / "state.json").read_text())
    before = {model: stores(run_name, model) for model in MODELS}

    monkeypatch.delenv("NOVA_LAB_FAKE_AWS")  # from here on, only the recording answers
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(replayed))
    shutil.copy(recording, paths.run_dir(run_name, "bedrock") / "recording.jsonl")
    run_study(MODELS, overlay(tmp_path, "replay"))
    after = {model: stores(run_name, model) for model in MODELS}

    assert {"PutObject", "CreateKnowledgeBase", "StartIngestionJob", "Retrieve", "CreateModelCustomizationJob",
            "CreateCustomModelDeployment", "GetObject", "Converse"} <= operations
    assert "CreateProvisionedModelThroughput" not in operations  # not without the opt-in
    refused, evaluated = unauthorised(requests_log(tmp_path / "fake-aws.pickle"), tmp_path / "bedrock-record.yaml")
    assert not refused, "requests the printed IAM policies do not allow:\n" + "\n".join(refused)
    with capsys.disabled():  # the closing note quotes it
        print(f"\nIAM: {len(evaluated)} distinct (call, principal, action) of the recorded study, all allowed")
    assert {state["models"][model]["serving_kind"] for model in MODELS} == {"deployment"}
    qa = pd.read_parquet(paths.run_dir(run_name, "data") / "qa.parquet")
    assert qa["question"].str.startswith("Tell me, for an AWS developer").any()  # pairs the LLM wrote
    answers, latency, verdicts = before["micro"]
    assert set(answers["configuration"]) == {"base", "rag", "ft", "ft_rag"} and (answers["backend"] == "bedrock").all()
    assert verdicts["score"].isna().any() and verdicts["score"].notna().any()  # unparseable verdicts stay NaN
    for model in MODELS:  # the same requests of the two models each replay their own responses
        for mine, theirs in zip(before[model], after[model]):
            pd.testing.assert_frame_equal(mine, theirs)  # same answers, tokens, latencies and verdicts
    html = (paths.run_dir(run_name) / "06_analysis.html").read_text()
    from nova_lab.core.bedrock_models import JUDGE_PRESETS

    assert all(judge in html for judge in JUDGE_PRESETS["current"])  # the LLM judges made the panel
    assert "differ from the study" in html and "123456789012" not in html  # said why; no account id published


def own_folder(folder: Path) -> Path:
    """Sixteen of botocore's SQS documents as a user's folder: Markdown, HTML and PDF files."""
    from test_own_documents import text_pdf

    from nova_lab.data.data_prep import load_corpus

    folder.mkdir()
    documents = load_corpus(["sqs"]).documents.head(16)
    for n, doc in enumerate(documents.itertuples()):
        name = doc.doc_id.replace("/", "-")
        if n % 8 == 6:
            (folder / f"{name}.html").write_text(f"<html><title>{doc.title}</title><body>" + "".join(
                f"<p>{line}</p>" for line in doc.text.splitlines()) + "</body></html>", encoding="utf-8")
        elif n % 8 == 7:
            words = " ".join(doc.text.encode("ascii", "ignore").decode().split())
            (folder / f"{name}.pdf").write_bytes(text_pdf(words.translate(str.maketrans("()\\", "[]/"))))
        else:
            (folder / "guides").mkdir(parents=True, exist_ok=True)
            (folder / "guides" / f"{name}.md").write_text(f"# {doc.title}\n\n{doc.text}\n", encoding="utf-8")
    return folder


def test_a_bedrock_study_on_your_own_folder_uploads_the_files_and_replays(tmp_path, monkeypatch, no_credentials):
    """Your documents on Bedrock: the LLM writes the Q&A pairs from them, the files go up as they are (PDF and
    HTML too) and the knowledge base ingests them; Retrieve's sources map back to the folder's paths."""
    folder = own_folder(tmp_path / "docs")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.*"))
    params = overlay(tmp_path, "record").read_text() + f"documents: {folder}\n"
    (tmp_path / "own-record.yaml").write_text(params)
    (tmp_path / "own-replay.yaml").write_text(params.replace("recording: record", "recording: replay"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_AWS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("NOVA_LAB_FAKE_AWS", str(tmp_path / "fake-aws.pickle"))
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "recorded"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(runner, "bedrock_preflight", lambda params, models, planned: None)
    run_study(("micro",), tmp_path / "own-record.yaml")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    logged = [json.loads(line) for line in requests_log(tmp_path / "fake-aws.pickle").read_text().splitlines()]
    uploaded = sorted(r["params"]["Key"].split("/corpus/own/", 1)[1] for r in logged
                      if r["operation"] == "PutObject" and "/corpus/" in r["params"]["Key"])
    assert uploaded == files  # the files themselves, under their paths in the folder
    refused, _ = unauthorised(requests_log(tmp_path / "fake-aws.pickle"), tmp_path / "own-record.yaml")
    assert not refused, "requests the printed IAM policies do not allow:\n" + "\n".join(refused)
    recording = paths.run_dir("smoke", "bedrock") / "recording.jsonl"
    built = read_notebook(paths.run_dir("smoke") / "02_kb_build.ipynb")
    qa = pd.read_parquet(paths.run_dir("smoke", "data") / "qa.parquet")
    before = stores("smoke", "micro")

    monkeypatch.delenv("NOVA_LAB_FAKE_AWS")
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "replayed"))
    shutil.copy(recording, paths.run_dir("smoke", "bedrock") / "recording.jsonl")
    run_study(("micro",), tmp_path / "own-replay.yaml")

    assert built["knowledge_base"]["ingestion"]["numberOfDocumentsScanned"] == len(files)
    assert built["knowledge_base"]["ingestion"]["numberOfDocumentsFailed"] == 0
    recall = [r["recall@5"] for r in built["retrieval"] if r["mode"] == "vector"]
    assert recall and min(recall) > 0.5  # Retrieve's sources mapped back to the folder's paths
    assert qa["question"].str.startswith("What does the document say about").all()  # pairs the LLM wrote
    assert set(qa["source_doc_id"]) <= set(files) and {"seen", "unseen"} <= set(qa["stratum"])
    assert any(doc.endswith((".pdf", ".html")) for doc in qa["source_doc_id"])
    for mine, theirs in zip(before, stores("smoke", "micro")):
        pd.testing.assert_frame_equal(mine, theirs)


def test_a_bedrock_study_in_batch_mode_stores_what_on_demand_stores_and_replays(tmp_path, monkeypatch, no_credentials):
    """`invocation: batch` on a study big enough for batch jobs (100+ records a job): the answers on base models and
    the verdicts go through batch inference jobs, the records one of them fails are asked on demand, and every
    record equals the on-demand study's but for the answers' latency (a batch record is not timed) and batch size."""
    sized = "n_test: 50\nn_train: 60\nlatency_sample: 4\n"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_AWS), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(runner, "bedrock_preflight", lambda params, models, planned: None)
    made = {}
    second = "  evaluation_model: us.anthropic.claude-sonnet-4-6\n"  # and Bedrock Evaluations' second opinion
    for mode in ("on_demand", "batch"):
        params = tmp_path / f"{mode}.yaml"
        params.write_text(overlay(tmp_path, "record").read_text() + f"  invocation: {mode}\n"
                          + (second if mode == "batch" else "") + sized)
        monkeypatch.setenv("NOVA_LAB_FAKE_AWS", str(tmp_path / f"{mode}.pickle"))
        monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / mode))
        run_study(("micro",), params)
        made[mode] = stores("smoke", "micro")
    refused, _ = unauthorised(requests_log(tmp_path / "batch.pickle"), tmp_path / "batch.yaml")
    assert not refused, "requests the printed IAM policies do not allow:\n" + "\n".join(refused)
    recording = paths.run_dir("smoke", "bedrock") / "recording.jsonl"
    operations = [json.loads(line)["operation"] for line in recording.read_text().splitlines()]
    state = json.loads((paths.run_dir("smoke", "bedrock") / "state.json").read_text())
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("NOVA_LAB_FAKE_AWS")
    monkeypatch.setenv("NOVA_LAB_OUTPUTS", str(tmp_path / "replayed"))
    shutil.copy(recording, paths.run_dir("smoke", "bedrock") / "recording.jsonl")
    replay = tmp_path / "batch-replay.yaml"
    replay.write_text((tmp_path / "batch.yaml").read_text().replace("recording: record", "recording: replay"))
    run_study(("micro",), replay)

    assert operations.count("CreateModelInvocationJob") == len(state["batch_jobs"]) >= 3  # answers + each judge
    first, second = [i for i, op in enumerate(operations) if op == "CreateModelInvocationJob"][1:3]  # 05's judges
    assert "GetModelInvocationJob" not in operations[first:second]  # both judges' jobs submitted before a wait
    (answers, latency, verdicts), (on_demand, on_demand_latency, on_demand_verdicts) = made["batch"], made["on_demand"]
    in_batch = answers["latency_ms"].isna()
    assert in_batch.sum() >= 100 and set(answers.loc[in_batch, "configuration"]) == {"base", "rag"}
    assert (~in_batch & answers["configuration"].isin(["base", "rag"])).any()  # the job's failed records, on demand
    untimed = ["latency_ms", "batch_size"]
    pd.testing.assert_frame_equal(answers.drop(columns=untimed), on_demand.drop(columns=untimed))
    pd.testing.assert_frame_equal(verdicts, on_demand_verdicts)
    pd.testing.assert_frame_equal(latency.drop(columns="latency_ms"), on_demand_latency.drop(columns="latency_ms"))
    for mine, theirs in zip(made["batch"], stores("smoke", "micro")):
        pd.testing.assert_frame_equal(mine, theirs)  # the replay stores what the recorded run stored
    assert operations.count("CreateEvaluationJob") == len(state["evaluation_jobs"]) == 1  # the graded set: 480
    table = pd.DataFrame(read_notebook(paths.run_dir("smoke") / "06_analysis.ipynb")["graded_agreement"])
    second = table[(table["judge"] == "Bedrock Evaluations (us.anthropic.claude-sonnet-4-6)")
                   & (table["kind"] == "every kind") & (table["part"] == "whole set")]
    assert len(second) == 1 and second["answers"].iloc[0] == 480 and second["alpha_with_panel"].notna().all()
    # given the panel's question, reference and answer, the fake evaluator scores as the fake Claude judge does,
    # on its coarser scale: the custom metric carries the same three texts as the judges' prompt
    claude, named = "us.anthropic.claude-sonnet-4-6", "Bedrock Evaluations (us.anthropic.claude-sonnet-4-6)"
    graded = graded_set.read(graded_set.source(None))
    wide = graded_set.read_scores(graded, [claude, named], graded_set.store("smoke")).pivot(
        index="item", columns="judge", values="score")
    snapped = wide[claude].map(lambda s: min(sorted(evaluation.SCALE), key=lambda v: abs(v - s)), na_action="ignore")
    pd.testing.assert_series_equal(wide[named], snapped.astype(float), check_names=False)
