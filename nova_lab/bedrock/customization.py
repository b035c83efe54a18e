"""Step 03 on Bedrock, whole: the customization job (found or made), the wait for it, its custom
model served (on-demand deployment, or provisioned throughput only when the params opt in), and
its loss curves read back from S3.

Bedrock writes `step_wise_training_metrics.csv` and `validation_metrics.csv` under the job's
output prefix; they come back here in the offline trainer's history shape (`step`, `loss`,
`eval_loss`), so the notebook plots both backends with the same function.
"""

from __future__ import annotations

import io
from functools import partial
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from nova_lab.bedrock.polling import CONSOLES, Limit, RunStopped, poll, status_of
from nova_lab.bedrock.resources import (
    Clients,
    Resource,
    attempt_name,
    attempt_of,
    if_exists,
    job_name,
    pages,
    serving_name,
    tags,
)
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.state import needs, read_state, update_state
from nova_lab.bedrock.tokens import request_token
from nova_lab.core.params import FineTuneParams
from nova_lab.core.results import FineTuneResult
from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.core.study_steps import DATA_PREP
from nova_lab.costing import pricing
from nova_lab.data.data_prep import data_digests

DONE, FAILED = "Completed", ("Failed", "Stopped")


class CustomizationFailed(RunStopped):
    """The customization job ended without a model; Bedrock's reason is in the message."""


class ServingFailed(RunStopped):
    """The deployment or provisioned throughput ended in Failed; Bedrock's reason is in the message."""


def wait_for_job(run: BedrockRun, job_name: str, first_delay: float = 30.0, max_delay: float = 300.0) -> dict[str, Any]:
    """Poll the job with growing delays, showing its stage, for at most `bedrock.wait_hours.customization_job`;
    returns the finished job's description. A job not found on a first poll right after its creation is "not
    yet". Credentials that expire during the hours of waiting stop the wait with the way out (polling.py)."""
    fetch = partial(if_exists, run.clients.bedrock.get_model_customization_job, jobIdentifier=job_name)
    limit = Limit.of(run.settings, "customization_job", f"customization job {job_name}")
    with tqdm(desc=f"customization {job_name}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        for job in poll(fetch, first_delay, max_delay, run.sleep, limit):
            stages = (job or {}).get("statusDetails", {})
            stage = next((name for name, detail in stages.items() if detail.get("status") == "InProgress"), "")
            bar.set_postfix_str(f"{status_of(job)} {stage}".strip(), refresh=True)
            if status_of(job) == DONE:
                return job
            if status_of(job) in FAILED:
                raise CustomizationFailed(
                    f"customization job {job_name} {job['status']}: {job.get('failureMessage', 'no reason given')}; "
                    f"fix the cause and run step 03 again: it trains again as the next attempt (same data and "
                    f"hyperparameters), reusing the bucket, the data and the knowledge base")
    raise AssertionError("poll() never ends on its own")


def _csv(clients: Clients, bucket: str, prefix: str, name: str) -> pd.DataFrame:
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(name):
                return pd.read_csv(io.BytesIO(clients.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
    return pd.DataFrame()


def _per_step(frame: pd.DataFrame, loss: str, column: str) -> pd.DataFrame:
    """One `column` value per step: Nova's metrics files hold several rows per step, averaged per step as
    AWS's amazon-nova-samples do before plotting."""
    if not len(frame):
        return pd.DataFrame(columns=["step", column])
    per_step = frame.groupby("step_number", as_index=False)[loss].mean()
    return per_step.rename(columns={"step_number": "step", loss: column})


def loss_history(run: BedrockRun, output_uri: str) -> pd.DataFrame:
    """Training and validation loss by step, in the offline trainer's history columns."""
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    training = _per_step(_csv(run.clients, bucket, prefix, "step_wise_training_metrics.csv"), "training_loss", "loss")
    validation = _per_step(_csv(run.clients, bucket, prefix, "validation_metrics.csv"), "validation_loss", "eval_loss")
    history = pd.concat([training, validation], ignore_index=True)
    return history.sort_values("step", kind="stable").reset_index(drop=True)


def job_hyperparameters(cfg: FineTuneParams) -> dict[str, Any]:
    """The hyperparameters this model's customization job takes, by Nova's API names (Nova 2 takes fewer)."""
    return {name: getattr(cfg, name) for name in STUDY_MODELS[cfg.model].hyperparameters}


def ensure_customization_job(run: BedrockRun, model: str, data_digest: str, hyperparameters: dict[str, Any],
                             train_uri: str, validation_uri: str) -> Resource:
    """The fine-tuning job for this model, data and hyperparameters. Its latest attempt is reused while it runs or
    once its model exists; one that failed, was stopped or lost its model (teardown) is tried again at once under
    the next attempt's name, as a user who runs step 03 again after its failure was shown expects: Bedrock keeps
    job names, and nothing else (bucket, data, vector store, knowledge base) needs rebuilding."""
    clients, settings = run.clients, run.settings
    base = job_name(settings, model, data_digest, hyperparameters)
    listed = pages(clients.bedrock, "list_model_customization_jobs", "modelCustomizationJobSummaries",
                   nameContains=base)
    attempts = {attempt: job for job in listed if (attempt := attempt_of(base, job["jobName"]))}
    last = max(attempts, default=0)
    if last:
        job = attempts[last]
        if job["status"] in ("InProgress", "Stopping") or (job["status"] == DONE and _model_exists(clients, job)):
            return Resource("customization-job", job["jobName"], job["jobName"], reused=True)
        print(f"nova-lab: {_not_reusable(clients, job)}; training again as {attempt_name(base, last + 1)} "
              f"(same data and hyperparameters; the bucket, data and knowledge base are reused)")
    name = attempt_name(base, last + 1)
    request = dict(
        jobName=name, customModelName=name, roleArn=settings.role_arn,
        baseModelIdentifier=STUDY_MODELS[model].training_id, customizationType="FINE_TUNING",
        hyperParameters={key: str(value) for key, value in hyperparameters.items()},
        trainingDataConfig={"s3Uri": train_uri},
        **({"validationDataConfig": {"validators": [{"s3Uri": validation_uri}]}}
           if STUDY_MODELS[model].job_takes_validation else {}),
        outputDataConfig={"s3Uri": f"s3://{settings.bucket}/{settings.study_tag}/customization/{name}/"},
        jobTags=tags(settings), customModelTags=tags(settings))
    clients.bedrock.create_model_customization_job(
        **request, clientRequestToken=request_token(name, request, clients.nonce))
    return Resource("customization-job", name, name)


def _not_reusable(clients: Clients, job: dict[str, Any]) -> str:
    """Why a listed job is not reused: Bedrock's failure message (not in the listing), or its deleted model."""
    if job["status"] == DONE:
        return f"customization job {job['jobName']} is Completed but its custom model was deleted"
    found = clients.bedrock.get_model_customization_job(jobIdentifier=job["jobName"])
    return f"customization job {job['jobName']} {job['status']}: {found.get('failureMessage', 'no reason given')}"


def _model_exists(clients: Clients, job: dict[str, Any]) -> bool:
    return if_exists(clients.bedrock.get_custom_model, modelIdentifier=job.get("customModelArn") or job["jobName"]) is not None


def ensure_serving(run: BedrockRun, model_arn: str, name: str) -> Resource:
    """On-demand deployment of a custom model, or provisioned throughput when the params opt in."""
    clients, settings = run.clients, run.settings
    if not settings.allow_provisioned_throughput:
        for found in pages(clients.bedrock, "list_custom_model_deployments", "modelDeploymentSummaries", nameContains=name):
            if found["customModelDeploymentName"] == name and found["status"] != "Failed" and found["modelArn"] == model_arn:
                return Resource("deployment", name, found["customModelDeploymentArn"], reused=True)
        request = dict(modelDeploymentName=name, modelArn=model_arn, tags=tags(settings))
        arn = clients.bedrock.create_custom_model_deployment(
            **request, clientRequestToken=request_token(name, request, clients.nonce))["customModelDeploymentArn"]
        return Resource("deployment", name, arn)
    for found in pages(clients.bedrock, "list_provisioned_model_throughputs", "provisionedModelSummaries", nameContains=name):
        if found["provisionedModelName"] == name and found["status"] != "Failed" and found["modelArn"] == model_arn:
            return Resource("provisioned-throughput", name, found["provisionedModelArn"], reused=True)
    hourly = pricing.price("provisioned-throughput/no-commitment").usd
    print(f"nova-lab: requesting provisioned throughput {name}: 1 model unit, no commitment, "
          f"about ${hourly:.2f} an hour until `nova-lab teardown` removes it")
    request = dict(modelUnits=1, provisionedModelName=name, modelId=model_arn, tags=tags(settings))
    arn = clients.bedrock.create_provisioned_model_throughput(
        **request, clientRequestToken=request_token(name, request, clients.nonce))["provisionedModelArn"]
    return Resource("provisioned-throughput", name, arn)


def _serving_state(run: BedrockRun, serving: Resource) -> dict[str, Any]:
    """The deployment's (or provisioned throughput's) description; one not found yet, just after its create, is
    still being made."""
    bedrock = run.clients.bedrock
    if serving.kind == "deployment":
        found = if_exists(bedrock.get_custom_model_deployment, customModelDeploymentIdentifier=serving.identifier)
    else:
        found = if_exists(bedrock.get_provisioned_model_throughput, provisionedModelId=serving.identifier)
    return found or {"status": "Creating"}


def _wait_until_serving(run: BedrockRun, serving: Resource) -> None:
    """Until the model answers, for at most its `bedrock.wait_hours`; expired credentials stop with the way out."""
    ready = "Active" if serving.kind == "deployment" else "InService"
    limit = Limit.of(run.settings, serving.kind.replace("-", "_"), f"{serving.kind} {serving.name}")
    with tqdm(desc=f"{serving.kind} {serving.name}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        for state in poll(lambda: _serving_state(run, serving), 15.0, 120.0, run.sleep, limit):
            bar.set_postfix_str(state["status"], refresh=True)
            if state["status"] == ready:
                return
            if state["status"] == "Failed":
                raise ServingFailed(f"{limit.what} failed: {state.get('failureMessage', 'no reason given')} (see "
                                    f"{CONSOLES[limit.kind]}); fix the cause, then `nova-lab teardown` and run again")


def fine_tune(run: BedrockRun, cfg: FineTuneParams) -> FineTuneResult:
    """The customization job (reused when one exists for this data), its custom model served: what was served
    (kept in the run's state for step 04) and the loss history."""
    uris = needs(read_state(cfg.run_name), "data", DATA_PREP, cfg.run_name)
    digest = "".join(data_digests(cfg.run_name).values())
    job = ensure_customization_job(run, cfg.model, digest, job_hyperparameters(cfg), uris["train"], uris["validation"])
    finished = wait_for_job(run, job.name)
    serving = ensure_serving(run, finished["outputModelArn"], serving_name(run.settings, job.name))
    _wait_until_serving(run, serving)
    served = {"job": job.name, "model_arn": finished["outputModelArn"], "serving": serving.identifier,
              "serving_kind": serving.kind, "base": STUDY_MODELS[cfg.model].converse_id}
    update_state(cfg.run_name, models=read_state(cfg.run_name).get("models", {}) | {cfg.model: served})
    history = loss_history(run, finished["outputDataConfig"]["s3Uri"])
    return FineTuneResult({**served, "hyperparameters": job_hyperparameters(cfg)}, history)
