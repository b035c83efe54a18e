"""Step 03 on Bedrock: wait for the customization job, then read its loss curves from S3.

Bedrock writes `step_wise_training_metrics.csv` and `validation_metrics.csv` under the job's
output prefix; they come back here in the offline trainer's history shape (`step`, `loss`,
`eval_loss`), so the notebook plots both backends with the same function.
"""

from __future__ import annotations

import io
import time
from functools import partial
from typing import Any, Callable

import pandas as pd
from tqdm.auto import tqdm

from botocore.exceptions import ClientError

from nova_lab.bedrock.polling import poll
from nova_lab.bedrock.resources import Clients, if_exists

DONE, FAILED = "Completed", ("Failed", "Stopped")


class CustomizationFailed(RuntimeError):
    """The customization job ended without a model; Bedrock's reason is in the message."""


EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}


class CredentialsExpired(RuntimeError):
    """Short-lived credentials ran out during an hours-long wait; the job itself goes on in Bedrock."""


def expired(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in EXPIRED


def wait_for_job(clients: Clients, job_name: str, sleep: Callable[[float], None] = time.sleep,
                 first_delay: float = 30.0, max_delay: float = 300.0) -> dict[str, Any]:
    """Poll the job with growing delays, showing its stage; returns the finished job's description.
    A job not found on a first poll right after its creation is "not yet". Credentials that expire
    during the hours of waiting stop the wait with the way out: the job runs on and is reused."""
    fetch = partial(if_exists, clients.bedrock.get_model_customization_job, jobIdentifier=job_name)
    with tqdm(desc=f"customization {job_name}", bar_format="{desc}: {postfix} [{elapsed}]") as bar:
        try:
            return _until_done(fetch, job_name, bar, first_delay, max_delay, sleep)
        except ClientError as exc:
            if expired(exc):
                raise CredentialsExpired(f"the AWS credentials expired while waiting for customization job {job_name} "
                                         f"({exc.response['Error']['Code']}); it goes on in Bedrock: refresh "
                                         f"credentials and run again: the job is reused") from None
            raise


def _until_done(fetch: Callable[[], dict[str, Any] | None], job_name: str, bar: Any, first_delay: float,
                max_delay: float, sleep: Callable[[float], None]) -> dict[str, Any]:
    for job in poll(fetch, first_delay, max_delay, sleep):
        if job is None:
            bar.set_postfix_str("not listed yet", refresh=True)
            continue
        stages = job.get("statusDetails", {})
        stage = next((name for name, detail in stages.items() if detail.get("status") == "InProgress"), "")
        bar.set_postfix_str(f"{job['status']} {stage}".strip(), refresh=True)
        if job["status"] == DONE:
            return job
        if job["status"] in FAILED:
            raise CustomizationFailed(f"customization job {job_name} {job['status']}: {job.get('failureMessage', '')}")
    raise AssertionError("poll() never ends on its own")


def _csv(clients: Clients, bucket: str, prefix: str, name: str) -> pd.DataFrame:
    for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(name):
                return pd.read_csv(io.BytesIO(clients.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
    return pd.DataFrame()


def loss_history(clients: Clients, output_uri: str) -> pd.DataFrame:
    """Training and validation loss by step, in the offline trainer's history columns."""
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    training = _csv(clients, bucket, prefix, "step_wise_training_metrics.csv")
    validation = _csv(clients, bucket, prefix, "validation_metrics.csv")
    frames = [training.rename(columns={"step_number": "step", "training_loss": "loss"})[["step", "loss"]]
              if len(training) else pd.DataFrame(columns=["step", "loss"]),
              validation.rename(columns={"step_number": "step", "validation_loss": "eval_loss"})[["step", "eval_loss"]]
              if len(validation) else pd.DataFrame(columns=["step", "eval_loss"])]
    return pd.concat(frames, ignore_index=True).sort_values("step", kind="stable").reset_index(drop=True)
