"""Bedrock batch inference (`CreateModelInvocationJob`) for the requests the study does not time.

A batch job takes a JSONL file of Converse request bodies in S3 (`modelInvocationType: Converse`), runs them
on its own quota at about half the on-demand price, and writes one output line per record back to S3: the
Converse response, or an error in its place (user guide, "Format and upload your batch inference data" and
"View the results of a batch inference job"). Here one job per model and phase holds every pending request of
that model; what a job cannot take (fewer records than the service's minimum per job) and every record it
reports as failed comes back to the caller, who asks it on demand as before, so the stores end up the same.

A job is named from its model and records, and its name, ARN and S3 locations are kept in the run's state: a
re-run finds the job still running or finished instead of submitting another. A job found failed, stopped or
expired by a later run is submitted again under the next attempt's name; one that ends so while this run waits
stops it with the job's message. Waits are bounded (`bedrock.wait_hours.batch_job`) and survive expiring credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from nova_lab.bedrock.polling import CONSOLES, Limit, RunStopped, poll
from nova_lab.bedrock.resources import TAG_KEY, resource_name, upload
from nova_lab.bedrock.run_context import BedrockRun
from nova_lab.bedrock.state import read_state, update_state
from nova_lab.bedrock.tokens import request_token
from nova_lab.core.bedrock_models import BATCH_MIN_RECORDS
from nova_lab.core.caching import fingerprint
from nova_lab.data.nova_format import json_lines

DONE = ("Completed", "PartiallyCompleted")  # PartiallyCompleted: some records failed, each with its error
ENDED = ("Failed", "Stopped", "Expired")  # never to finish: resubmitted by the next run, stopped on while waited
RUNNING = ("Submitted", "Validating", "Scheduled", "InProgress")  # may still bill: teardown stops these
IN_FLIGHT = (*RUNNING, "Stopping")  # the jobs the quota of jobs "in-progress and submitted" counts
TIMEOUT_HOURS = 24  # the job's own limit (the API takes 24-168): unfinished records are then reported, not lost


class BatchJobFailed(RunStopped):
    """A batch inference job ended Failed, Stopped or Expired while this run waited: its message and the way out."""


@dataclass(frozen=True)
class Request:
    """One Converse request by the key its record is stored under: the same whichever route asks it."""

    key: str
    model_id: str
    body: dict[str, Any]  # Converse's request without modelId: system, messages, inferenceConfig


@dataclass
class Outcome:
    responses: dict[str, dict[str, Any]]  # Converse response by request key, for every record a job answered
    left: list[Request]  # to ask on demand: under the minimum, or failed in the job (its error counted)
    jobs: list[str]  # the jobs read, by name
    failed: int = 0  # records a job reported as failed


def attempt_job_name(run: BedrockRun, phase: str, digest: str, attempt: int) -> str:
    """A job's name by run, phase and a digest of what it holds; a later attempt's ends in -r2, -r3..."""
    return resource_name(run.settings, run.name, phase, digest[:12], *([f"r{attempt}"] if attempt > 1 else []))


def job_name(run: BedrockRun, phase: str, model_id: str, requests: list[Request], attempt: int) -> str:
    """Named by phase, model and the records' keys: the same requests find the same job."""
    return attempt_job_name(run, phase, fingerprint(model_id, sorted(r.key for r in requests)), attempt)


def input_lines(requests: list[Request]) -> bytes:
    """The job's input: one `{"recordId", "modelInput"}` per request, the record id being the request's key."""
    return "".join(json.dumps({"recordId": r.key, "modelInput": r.body}) + "\n" for r in requests).encode()


def output_records(run: BedrockRun, output_uri: str, suffix: str) -> Iterator[dict[str, Any]]:
    """Every JSON line of the files whose names end in `suffix` under a job's output location."""
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    for page in run.clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(suffix):
                body = run.clients.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8")
                yield from (json.loads(line) for line in json_lines(body) if line.strip())


def read_output(run: BedrockRun, output_uri: str) -> dict[str, dict[str, Any]]:
    """Every output line the job wrote under `output_uri` (`<job id>/<input>.jsonl.out`), by record id."""
    return {record["recordId"]: record for record in output_records(run, output_uri, ".jsonl.out")}


def _submit(run: BedrockRun, name: str, model_id: str, requests: list[Request]) -> dict[str, str]:
    settings = run.settings
    folder = f"{run.name}/batch/{name}"
    input_uri = upload(run.clients, settings, f"{folder}/records.jsonl", input_lines(requests))
    output_uri = f"s3://{settings.bucket}/{settings.study_tag}/{folder}/out/"
    request = dict(jobName=name, roleArn=settings.role_arn, modelId=model_id, modelInvocationType="Converse",
                   inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
                   outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
                   timeoutDurationInHours=TIMEOUT_HOURS, tags=[{"key": TAG_KEY, "value": settings.study_tag}])
    arn = run.clients.bedrock.create_model_invocation_job(
        **request, clientRequestToken=request_token(name, request, run.clients.nonce))["jobArn"]
    return {"name": name, "arn": arn, "input": input_uri, "output": output_uri}


def kept_job(run: BedrockRun, part: str, name_of: Callable[[int], str], status: Callable[[str], str],
             ended: tuple[str, ...], submit: Callable[[str], dict[str, str]]) -> dict[str, Any]:
    """The job the run's state keeps under `part` by its first attempt's name, unless it ended without finishing
    (then the next attempt, `name_of(attempt)`, is submitted); kept in the state as soon as it is submitted. A
    create retried after a kill carries the same client token (the caller's `submit`), so Bedrock returns the job
    it made instead of a second one."""
    base = name_of(1)
    kept = read_state(run.name).get(part, {})
    job = kept.get(base)
    if job is not None and status(job["arn"]) not in ended:
        return job
    attempt = job["attempt"] + 1 if job is not None else 1
    job = submit(name_of(attempt)) | {"attempt": attempt}
    update_state(run.name, **{part: kept | {base: job}})
    return job


def ensure_job(run: BedrockRun, phase: str, model_id: str, requests: list[Request]) -> dict[str, Any]:
    """The batch job for these requests, submitted once and found again by the next run (`kept_job`)."""
    return kept_job(run, "batch_jobs", lambda attempt: job_name(run, phase, model_id, requests, attempt),
                    lambda arn: run.clients.bedrock.get_model_invocation_job(jobIdentifier=arn)["status"], ENDED,
                    lambda name: _submit(run, name, model_id, requests))


def wait(run: BedrockRun, job: dict[str, str]) -> dict[str, Any]:
    """The job once Completed or PartiallyCompleted; Failed, Stopped or Expired stops with its message."""
    what = f"batch inference job {job['name']}"
    fetch = lambda: run.clients.bedrock.get_model_invocation_job(jobIdentifier=job["arn"])  # noqa: E731
    for state in poll(fetch, 30.0, 600.0, run.sleep, Limit.of(run.settings, "batch_job", what)):
        if state["status"] in DONE:
            return state
        if state["status"] in ENDED:
            raise BatchJobFailed(f"{what} ended {state['status']}: {state.get('message') or 'no message'} (see "
                                 f"{CONSOLES['batch_job']}); run the step again to submit its records anew, or set "
                                 f"bedrock.invocation: on_demand to ask them one by one")


def _by_model(requests: list[Request]) -> dict[str, list[Request]]:
    grouped: dict[str, list[Request]] = {}
    for request in requests:
        grouped.setdefault(request.model_id, []).append(request)
    return grouped


def submit_all(run: BedrockRun, phase: str, requests: list[Request]) -> None:
    """Submit the jobs `converse_all` will wait for, without waiting: jobs of several judges then run side by side
    (hours each on Bedrock) instead of one after the other; `converse_all` finds them in the run's state."""
    for model_id, group in _by_model(requests).items():
        if len(group) >= BATCH_MIN_RECORDS:
            ensure_job(run, phase, model_id, group)


def converse_all(run: BedrockRun, phase: str, requests: list[Request]) -> Outcome:
    """The Converse responses of `requests` through one batch job per model (of BATCH_MIN_RECORDS records or more);
    the rest, and every record a job failed, in `left` for the caller to ask on demand."""
    outcome = Outcome({}, [], [])
    for model_id, group in _by_model(requests).items():
        if len(group) < BATCH_MIN_RECORDS:  # the service's least: asked on demand
            outcome.left += group
            continue
        job = ensure_job(run, phase, model_id, group)
        wait(run, job)
        lines = read_output(run, job["output"])
        outcome.jobs.append(job["name"])
        for request in group:
            line = lines.get(request.key, {})
            if "modelOutput" in line:
                outcome.responses[request.key] = line["modelOutput"]
            else:  # an error in the record's place, or no line (the job's timeout): asked on demand
                outcome.left.append(request)
                outcome.failed += 1
    return outcome
