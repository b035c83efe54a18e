"""A second opinion on the judges from AWS itself: Amazon Bedrock Evaluations grades the graded set.

`CreateEvaluationJob` with a model as a judge scores answers made elsewhere (the prompt dataset carries them:
`precomputedInferenceSource`) with one custom metric whose instructions are the study's rubric, the question,
the reference and the answer (user guide: "Create a prompt dataset for a model evaluation job that uses a model
as judge", "Create a model evaluation job using custom metrics"). Its scores join the panel's in 05 and 06's
table of the judges against the blind grades, as one more judge that is not part of the panel.

Where its prompt cannot be the panel's, said in 05 and 06 too: a custom metric's rating scale holds at most 10
values, so it scores 0, 2, 4, 6, 8 or 10 (the rubric's 11 points do not fit); Bedrock writes its own output
instructions for the scale where the panel asks for a JSON line; a job has one evaluator model, and the user
guide's list of evaluators for custom metrics has no Llama 4. A job takes at most 1,000 prompts: a larger set
goes in several. Jobs resume as batch jobs do (their name, ARN and S3 locations in the run's state).
"""

from __future__ import annotations

import json
import math
from typing import Any

from nova_lab.bedrock.batch import attempt_job_name, kept_job, output_records
from nova_lab.bedrock.polling import CONSOLES, Limit, RunStopped, poll
from nova_lab.bedrock.resources import TAG_KEY, upload
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.tokens import request_token
from nova_lab.core.caching import fingerprint
from nova_lab.judging.judges import RUBRIC, RUBRIC_VERSION, Item, Verdict, second_opinion_name

SOURCE = "nova-lab-answers"  # the dataset's `modelIdentifier`: the job's inferenceSourceIdentifier must equal it
METRIC = f"nova-lab-rubric-{RUBRIC_VERSION}"
SCALE = {10: "every key fact, nothing contradicted", 8: "nearly every key fact", 6: "more than half key facts",
         4: "fewer than half key facts", 2: "few key facts", 0: "no key fact, or fabrication"}  # at most 10 values
MAX_PROMPTS = 1000  # prompts in one evaluation job's dataset (user guide)
TASK_TYPE = "General"  # as every model-as-judge example of the user guide gives it (botocore's enum lists no General)
ENDED = ("Failed", "Stopped", "Deleting")  # never to finish: the next run submits it again
RUNNING = ("InProgress",)  # teardown stops these
IN_FLIGHT = (*RUNNING, "Stopping")


class EvaluationJobFailed(RunStopped):
    """An evaluation job ended Failed or Stopped while this run waited: its messages and the way out."""


def instructions() -> str:
    """The rubric, then the input variables last (the user guide: `{{prompt}}`, `{{ground_truth}}` for the
    reference answer, `{{prediction}}` for the answer to score)."""
    return (f"{RUBRIC}\n\nQuestion: {{{{prompt}}}}\nReference answer: {{{{ground_truth}}}}\n"
            f"Answer to score: {{{{prediction}}}}")


def dataset_line(item: Item) -> dict[str, Any]:
    return {"prompt": item.question, "referenceResponse": item.reference,
            "modelResponses": [{"response": item.answer or "(empty)", "modelIdentifier": SOURCE}]}


def line_key(line: dict[str, Any]) -> str:
    """What a verdict depends on, read the same from the dataset line and from the output's copy of it."""
    return fingerprint(line["prompt"], line.get("referenceResponse"), line["modelResponses"][0]["response"])


def score_of(result: float | None) -> float:
    """A result on the rubric's 0-10: the scale's value as given, or as a share of the scale's top (the user guide
    shows model-as-judge results between 0 and 1). The scale holds no 1, so the two readings never meet."""
    if result is None or (isinstance(result, float) and math.isnan(result)):
        return math.nan
    return float(result) * max(SCALE) if result <= 1 else float(result)


def job_name(run: BedrockRun, evaluator: str, keys: list[str], attempt: int) -> str:
    return attempt_job_name(run, "eval", fingerprint(evaluator, METRIC, sorted(keys)), attempt)


def _request(run: BedrockRun, name: str, evaluator: str, dataset_uri: str, output_uri: str) -> dict[str, Any]:
    judge = {"bedrockEvaluatorModels": [{"modelIdentifier": evaluator}]}
    scale = [{"definition": definition, "value": {"floatValue": float(value)}} for value, definition in SCALE.items()]
    return dict(
        jobName=name, roleArn=run.settings.role_arn, applicationType="ModelEvaluation",
        evaluationConfig={"automated": {
            "datasetMetricConfigs": [{"taskType": TASK_TYPE, "metricNames": [METRIC],
                                      "dataset": {"name": "graded-set", "datasetLocation": {"s3Uri": dataset_uri}}}],
            "evaluatorModelConfig": judge,
            "customMetricConfig": {"evaluatorModelConfig": judge, "customMetrics": [{"customMetricDefinition": {
                "name": METRIC, "instructions": instructions(), "ratingScale": scale}}]}}},
        inferenceConfig={"models": [{"precomputedInferenceSource": {"inferenceSourceIdentifier": SOURCE}}]},
        outputDataConfig={"s3Uri": output_uri}, jobTags=[{"key": TAG_KEY, "value": run.settings.study_tag}])


def _submit(run: BedrockRun, name: str, evaluator: str, lines: list[dict[str, Any]]) -> dict[str, str]:
    folder = f"{run.name}/evaluation/{name}"
    dataset_uri = upload(run.clients, run.settings, f"{folder}/dataset.jsonl",
                         "".join(json.dumps(line) + "\n" for line in lines).encode())
    output_uri = f"s3://{run.settings.bucket}/{run.settings.study_tag}/{folder}/out/"
    request = _request(run, name, evaluator, dataset_uri, output_uri)
    arn = run.clients.bedrock.create_evaluation_job(
        **request, clientRequestToken=request_token(name, request, run.clients.nonce))["jobArn"]
    return {"name": name, "arn": arn, "input": dataset_uri, "output": output_uri}


def ensure_job(run: BedrockRun, evaluator: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [line_key(line) for line in lines]
    return kept_job(run, "evaluation_jobs", lambda attempt: job_name(run, evaluator, keys, attempt),
                    lambda arn: run.clients.bedrock.get_evaluation_job(jobIdentifier=arn)["status"], ENDED,
                    lambda name: _submit(run, name, evaluator, lines))


def wait(run: BedrockRun, job: dict[str, str]) -> None:
    what = f"evaluation job {job['name']}"
    fetch = lambda: run.clients.bedrock.get_evaluation_job(jobIdentifier=job["arn"])  # noqa: E731
    for state in poll(fetch, 30.0, 600.0, run.sleep, Limit.of(run.settings, "evaluation_job", what)):
        if state["status"] == "Completed":
            return
        if state["status"] in ENDED:
            raise EvaluationJobFailed(
                f"{what} ended {state['status']}: {'; '.join(state.get('failureMessages', [])) or 'no message'} "
                f"(see {CONSOLES['evaluation_job']}); run step 05 again to submit it anew, or leave "
                f"bedrock.evaluation_model unset to go without the second opinion")


def read_results(run: BedrockRun, output_uri: str) -> dict[str, Verdict]:
    """Each scored line of the job's output (`..._output.jsonl` under the output location), by `line_key`."""
    found: dict[str, Verdict] = {}
    for record in output_records(run, output_uri, "_output.jsonl"):
        scores = record.get("automatedEvaluationResult", {}).get("scores", [])
        mine = next((s for s in scores if s.get("metricName") == METRIC), {})
        told = (mine.get("evaluatorDetails") or [{}])[0].get("explanation", "")
        score = score_of(mine.get("result"))
        found[line_key(record["inputRecord"])] = Verdict(score, told if not math.isnan(score) else
                                                         f"no score from the evaluation job: {told[:80]!r}")
    return found


class ManagedEvaluation:
    """Amazon Bedrock Evaluations as a judge of the graded set (not of the study's answers: it is a check on the
    panel, not a member). Behind the judges' interface, so the graded set's store keeps its verdicts."""

    kind = "Amazon Bedrock Evaluations (model as a judge, the rubric as a custom metric)"
    items_per_call = None  # its jobs take every item at once

    def __init__(self, run: BedrockRun, evaluator: str):
        self.run, self.evaluator, self.name = run, evaluator, second_opinion_name(evaluator)

    def scores(self, item: Item) -> bool:
        return True

    @staticmethod
    def _chunks(items: list[Item]) -> list[list[dict[str, Any]]]:
        """The distinct dataset lines of `items`, 1,000 at most to a job."""
        distinct = list({line_key(line): line for line in map(dataset_line, items)}.values())
        return [distinct[start:start + MAX_PROMPTS] for start in range(0, len(distinct), MAX_PROMPTS)]

    def submit(self, items: list[Item]) -> None:
        """Start the jobs without waiting, beside the panel's batch jobs (verdicts.judge_all starts them all first)."""
        for lines in self._chunks(items):
            ensure_job(self.run, self.evaluator, lines)

    def judge(self, items: list[Item]) -> list[Verdict]:
        """One job per 1,000 distinct lines; a line the output does not score is NaN, with the reason."""
        verdicts: dict[str, Verdict] = {}
        for lines in self._chunks(items):
            job = ensure_job(self.run, self.evaluator, lines)
            wait(self.run, job)
            verdicts |= read_results(self.run, job["output"])
        missing = Verdict(math.nan, "the evaluation job's output has no line for this answer")
        return [verdicts.get(line_key(dataset_line(item)), missing) for item in items]
