"""Bedrock Evaluations as a second opinion on the graded set: the job's request (checked against the service model and
the user guide's rules by the fake), its output read back on the rubric's scale, a re-run that reuses the job, a job
that fails, a set larger than a job takes, every request allowed by the printed IAM policies, and the second opinion
kept out of the panel (S3 with moto, Bedrock with Stubber)."""

import json
import math

import pandas as pd
import pytest
from botocore.stub import ANY

from conftest import stubbed_bedrock_run
from fake_aws import iam_rules
from nova_lab.bedrock import evaluation, iam
from nova_lab.bedrock.state import read_state
from nova_lab.core import paths
from nova_lab.core.params import BedrockSettings, load_params
from nova_lab.judging import graded_set
from nova_lab.judging.judges import Item, second_opinion_name

EVALUATOR = "us.anthropic.claude-sonnet-4-6"
SETTINGS = BedrockSettings(bucket="nova-lab-test-bucket", role_arn="arn:aws:iam::123456789012:role/NovaLabBedrock",
                           study_tag="unit", max_usd=10, evaluation_model=EVALUATOR)
ARN = "arn:aws:bedrock:us-east-1:123456789012:evaluation-job/abcdef012345"
ITEMS = [Item("a", "Which HTTP method does PutItem use?", "POST", ("POST",), "It uses POST."),
         Item("b", "What is the default page size?", "100 items", ("100",), "50 items"),
         Item("c", "Which HTTP method does PutItem use?", "POST", ("POST",), "It uses POST."),  # the same as a
         Item("d", "Is there a DeleteEverything API?", "No such operation exists.", (), "")]


@pytest.fixture
def run(monkeypatch):
    with stubbed_bedrock_run(SETTINGS, monkeypatch) as made:
        yield made


def described(status, **more):
    return {"jobName": "unit-unit-eval", "status": status, "jobArn": ARN, "roleArn": SETTINGS.role_arn,
            "jobType": "Automated", "creationTime": "2026-12-06T00:00:00Z", "outputDataConfig": {"s3Uri": "s3://b/o/"},
            "evaluationConfig": {"automated": {"datasetMetricConfigs": [
                {"taskType": "General", "metricNames": [evaluation.METRIC], "dataset": {"name": "graded-set"}}]}},
            "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": evaluation.SOURCE}}]},
            **more}


def submitted_lines(run, uri):
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return [json.loads(line) for line in run.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]


def write_results(run, results):
    """The output of the job for ITEMS where the user guide puts it, one line per distinct dataset line with its
    result (None: no score)."""
    distinct = list({evaluation.line_key(line): line for line in map(evaluation.dataset_line, ITEMS)}.values())
    name = evaluation.job_name(run, EVALUATOR, [evaluation.line_key(line) for line in distinct], 1)
    bucket, prefix = SETTINGS.bucket, f"unit/unit/evaluation/{name}/out/"
    lines = [{"automatedEvaluationResult": {"scores": [{"metricName": evaluation.METRIC, "result": result,
                                                        "evaluatorDetails": [{"modelIdentifier": EVALUATOR,
                                                                              "explanation": f"graded {result}"}]}]},
              "inputRecord": line} for line, result in zip(distinct, results)]
    key = f"{prefix}{name}/abcdef012345/models/{evaluation.SOURCE}/taskTypes/General/datasets/graded-set/x_output.jsonl"
    run.clients.s3.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(line) + "\n" for line in lines).encode())


def test_the_graded_answers_are_judged_in_one_job_on_the_rubric_scale_and_a_rerun_reuses_it(run, strict_aws_requests):
    bedrock_run, stub = run
    before = len(strict_aws_requests.requests)
    stub.add_response("create_evaluation_job", {"jobArn": ARN}, {
        "jobName": ANY, "roleArn": SETTINGS.role_arn, "applicationType": "ModelEvaluation", "evaluationConfig": ANY,
        "inferenceConfig": {"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": evaluation.SOURCE}}]},
        "outputDataConfig": ANY, "jobTags": [{"key": "nova-lab-study", "value": "unit"}], "clientRequestToken": ANY})
    stub.add_response("get_evaluation_job", described("InProgress"), {"jobIdentifier": ARN})
    stub.add_response("get_evaluation_job", described("Completed"), {"jobIdentifier": ARN})
    judge = evaluation.ManagedEvaluation(bedrock_run, EVALUATOR)
    write_results(bedrock_run, [0.8, 6.0, None])
    verdicts = judge.judge(ITEMS)
    [job] = read_state("unit")["evaluation_jobs"].values()
    assert job["output"] == f"s3://{SETTINGS.bucket}/unit/unit/evaluation/{job['name']}/out/"
    lines = submitted_lines(bedrock_run, job["input"])
    assert len(lines) == 3  # a and c are one line
    assert {r["modelIdentifier"] for line in lines for r in line["modelResponses"]} == {evaluation.SOURCE}
    assert lines[2]["modelResponses"][0]["response"] == "(empty)"  # as the panel's prompt shows an empty answer
    assert [v.score for v in verdicts[:3]] == [8.0, 6.0, 8.0]  # a share of the top, or the scale's value
    assert math.isnan(verdicts[3].score) and "no score from the evaluation job" in verdicts[3].rationale
    stub.add_response("get_evaluation_job", described("Completed"), {"jobIdentifier": ARN})  # the state's job
    stub.add_response("get_evaluation_job", described("Completed"), {"jobIdentifier": ARN})  # waited for: done
    assert [v.score for v in judge.judge(ITEMS)[:3]] == [8.0, 6.0, 8.0]  # no second job
    stub.assert_no_pending_responses()
    params = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml").model_copy(update={"bedrock": SETTINGS})
    refused, _ = iam_rules.refusals(strict_aws_requests.requests[before:], iam.policies(params), "123456789012", "us-east-1")
    assert not refused, refused


def test_the_request_is_the_rubric_with_its_variables_last_on_a_scale_of_at_most_ten_values(run):
    bedrock_run, _ = run
    request = evaluation._request(bedrock_run, "unit-unit-eval", EVALUATOR, "s3://b/d.jsonl", "s3://b/o/")
    automated = request["evaluationConfig"]["automated"]
    metric = automated["customMetricConfig"]["customMetrics"][0]["customMetricDefinition"]
    assert metric["name"] in automated["datasetMetricConfigs"][0]["metricNames"]
    assert metric["instructions"].endswith("Answer to score: {{prediction}}") and len(metric["instructions"]) <= 5000
    assert "{{prompt}}" in metric["instructions"] and "{{ground_truth}}" in metric["instructions"]
    assert [s["value"]["floatValue"] for s in metric["ratingScale"]] == [10.0, 8.0, 6.0, 4.0, 2.0, 0.0]
    assert all(len(s["definition"]) <= 100 for s in metric["ratingScale"])
    assert [evaluation.score_of(r) for r in (0.0, 0.2, 1.0, 2.0, 10.0)] == [0.0, 2.0, 10.0, 2.0, 10.0]


def test_a_job_that_fails_stops_with_its_messages_and_the_next_run_submits_it_again(run):
    bedrock_run, stub = run
    stub.add_response("create_evaluation_job", {"jobArn": ARN})
    stub.add_response("get_evaluation_job", described("Failed", failureMessages=["The evaluator model is not supported"]),
                      {"jobIdentifier": ARN})
    judge = evaluation.ManagedEvaluation(bedrock_run, EVALUATOR)
    with pytest.raises(evaluation.EvaluationJobFailed, match=r"ended Failed: The evaluator model is not supported .*"
                                                             r"Evaluations\); run step 05 again"):
        judge.judge(ITEMS)
    stub.add_response("get_evaluation_job", described("Failed"), {"jobIdentifier": ARN})  # the state's job: ended
    stub.add_response("create_evaluation_job", {"jobArn": ARN.replace("abcdef", "aaaaaa")})
    stub.add_response("get_evaluation_job", described("Completed"), {"jobIdentifier": ARN.replace("abcdef", "aaaaaa")})
    verdicts = judge.judge(ITEMS)  # no output written: every answer NaN, with the reason
    assert all(math.isnan(v.score) for v in verdicts) and "no line for this answer" in verdicts[0].rationale
    [job] = read_state("unit")["evaluation_jobs"].values()
    assert job["attempt"] == 2 and job["name"].endswith("-r2")


def test_a_set_larger_than_a_job_takes_goes_in_several(run, monkeypatch):
    bedrock_run, stub = run
    monkeypatch.setattr(evaluation, "MAX_PROMPTS", 2)
    for n in range(2):
        arn = ARN.replace("abcdef", f"00000{n}")
        stub.add_response("create_evaluation_job", {"jobArn": arn})
        stub.add_response("get_evaluation_job", described("Completed"), {"jobIdentifier": arn})
    evaluation.ManagedEvaluation(bedrock_run, EVALUATOR).judge(ITEMS)  # 3 distinct lines: 2 + 1
    stub.assert_no_pending_responses()
    assert len(read_state("unit")["evaluation_jobs"]) == 2


def test_the_second_opinion_is_not_in_the_panel_but_is_in_the_judges_table():
    """The panel's score is the mean of its members; the second opinion gets its own rows, with its alpha with the
    panel beside its agreement with the grades."""
    name = second_opinion_name(EVALUATOR)
    graded = pd.DataFrame({"item": [1, 2, 3, 4], "part": "p", "model": "micro", "configuration": "base",
                           "stratum": "seen", "kind": "exact value", "grade": [0.0, 4.0, 8.0, 10.0]})
    scores = pd.DataFrame([{"item": i, "judge": j, "score": s} for i, row in zip(range(1, 5), [
        (0, 2, 10), (4, 4, 10), (8, 6, 0), (10, 10, 0)]) for j, s in zip(["claude", "llama", name], row)])
    wide = graded_set._wide(graded, scores)
    assert list(wide["panel"]) == [1.0, 4.0, 7.0, 10.0]
    table = graded_set.judges_against_grades(graded, scores)
    second = table[(table["judge"] == name) & (table["part"] == "whole set")].iloc[0]
    assert second["spearman"] < 0 and second["alpha_with_panel"] < 0
    assert graded_set.error_correlation(graded, scores)["judges"] == 2  # it casts no vote in the panel
    settings = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml")
    assert graded_set.second_opinions(settings) == []  # off unless asked for
    on = settings.model_copy(update={"bedrock": SETTINGS})
    assert graded_set.second_opinions(on) == [name]
    assert graded_set.second_opinions(on.model_copy(update={"backend": "local"})) == []


def test_the_plan_prices_the_second_opinion_only_when_asked_for():
    from nova_lab.costing import plan

    params = load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml")
    off = plan.build(params, ["micro"]).table()
    on = plan.build(params.model_copy(update={"bedrock": params.bedrock.model_copy(
        update={"evaluation_model": EVALUATOR})}), ["micro"]).table()
    [line] = on[on["call"] == "CreateEvaluationJob"].itertuples()
    assert "CreateEvaluationJob" not in set(off["call"]) and line.count == 480 and "1 job(s)" in line.what
    assert 0 < line.usd < 5 and line.tokens > 480 * plan.EVALUATION_REPLY_TOKENS
