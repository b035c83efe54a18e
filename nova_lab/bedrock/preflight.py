"""`nova-lab preflight`: before anything billable, is every model, profile, bucket, role and quota
the run needs there and usable? One table of what is ready and what is not, each with the way out.

It makes only free calls, plus one Converse of one output token to each judge and the Q&A
model (a few hundred-thousandths of a dollar), which proves model access end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import boto3
import pandas as pd
from botocore.exceptions import ClientError

from nova_lab.bedrock.models import DISPLAY_NAMES, foundation_model
from nova_lab.bedrock.opensearch import role_principal
from nova_lab.bedrock.resources import pages
from nova_lab.params import ParamsError, StudyParams
from nova_lab.study_models import STUDY_MODELS


@dataclass(frozen=True)
class Check:
    what: str
    subject: str
    ready: bool
    detail: str


@dataclass(frozen=True)
class PreflightClients:
    bedrock: Any
    bedrock_runtime: Any
    s3: Any
    iam: Any
    sts: Any
    quotas: Any  # service-quotas

    @classmethod
    def create(cls, region: str) -> "PreflightClients":
        return cls(*(boto3.client(service, region_name=region)
                     for service in ("bedrock", "bedrock-runtime", "s3", "iam", "sts", "service-quotas")))


class NotReady(ParamsError):
    """The preflight found something the run would fail on; the table says what and the way out."""


def _error(exc: ClientError) -> str:
    return f"{exc.response['Error']['Code']}: {exc.response['Error'].get('Message', '')}"


def _model(clients: PreflightClients, role: str, model_id: str, region: str) -> list[Check]:
    checks = []
    if model_id != foundation_model(model_id):
        try:
            profile = clients.bedrock.get_inference_profile(inferenceProfileIdentifier=model_id)
            checks.append(Check("inference profile", model_id, profile["status"] == "ACTIVE",
                                f"{role}: {profile['status']}, {len(profile.get('models', []))} region(s)"))
        except ClientError as exc:
            checks.append(Check("inference profile", model_id, False, f"{role}: not offered in {region} ({_error(exc)}); "
                                f"pick one `aws bedrock list-inference-profiles` lists"))
    try:
        details = clients.bedrock.get_foundation_model(modelIdentifier=foundation_model(model_id))["modelDetails"]
    except ClientError as exc:
        return checks + [Check("model", foundation_model(model_id), False, f"{role}: {_error(exc)}")]
    status = details.get("modelLifecycle", {}).get("status", "UNKNOWN")
    on_demand = model_id != foundation_model(model_id) or "ON_DEMAND" in details.get("inferenceTypesSupported", [])
    detail = f"{role}: {status}" + ("" if on_demand else ", no on-demand use in this region: use its us. profile")
    if status != "ACTIVE":
        detail += "; choose an active model (see README: Amazon Bedrock, models)"
    return checks + [Check("model", foundation_model(model_id), status == "ACTIVE" and on_demand, detail)]


def _converse(clients: PreflightClients, role: str, model_id: str) -> Check:
    try:
        clients.bedrock_runtime.converse(modelId=model_id, messages=[{"role": "user", "content": [{"text": "Say OK."}]}],
                                         inferenceConfig={"maxTokens": 1})
        return Check("1-token Converse", model_id, True, f"{role}: answered")
    except ClientError as exc:
        return Check("1-token Converse", model_id, False, f"{role}: {_error(exc)}; request model access in the console")


def _bucket(clients: PreflightClients, bucket: str, region: str) -> Check:
    try:
        where = clients.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchBucket":
            return Check("bucket", bucket, True, f"absent: 01 creates it in {region}")
        return Check("bucket", bucket, False, _error(exc))
    return Check("bucket", bucket, where == region, f"in {where}" + (
        "" if where == region else f"; Bedrock in {region} needs a bucket there: set another `bedrock.bucket`"))


def _role(clients: PreflightClients, role_arn: str) -> list[Check]:
    try:
        clients.iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])
    except ClientError as exc:
        return [Check("role", role_arn, False, f"{_error(exc)}; create it (`nova-lab iam-policy` prints its policies)")]
    caller = role_principal(clients.sts.get_caller_identity()["Arn"])
    result = clients.iam.simulate_principal_policy(PolicySourceArn=caller, ActionNames=["iam:PassRole"],
                                                   ResourceArns=[role_arn])["EvaluationResults"][0]
    allowed = result["EvalDecision"] == "allowed"
    return [Check("role", role_arn, True, "exists"),
            Check("iam:PassRole", role_arn, allowed, f"{caller}: {result['EvalDecision']}" + (
                "" if allowed else "; add the iam:PassRole statement `nova-lab iam-policy` prints"))]


def _quotas(clients: PreflightClients, params: StudyParams, models: list[str]) -> list[Check]:
    quotas = list(pages(clients.quotas, "list_service_quotas", "Quotas", ServiceCode="bedrock"))

    def quota(*words: str) -> dict[str, Any] | None:
        return next((q for q in quotas if all(w.lower() in q["QuotaName"].lower() for w in words)), None)

    checks = []
    if not params.bedrock.allow_provisioned_throughput:
        deployments = quota("custom model deployments")
        used = sum(1 for _ in pages(clients.bedrock, "list_custom_model_deployments", "modelDeploymentSummaries"))
        if deployments is not None:
            free = int(deployments["Value"]) - used
            checks.append(Check("quota", deployments["QuotaName"], free >= len(models),
                                f"{used} of {deployments['Value']:g} used, {len(models)} needed" + (
                                    "" if free >= len(models) else "; request an increase in Service Quotas")))
    for judge in params.bedrock.judge_models:
        tokens = quota("tokens per minute", DISPLAY_NAMES[judge]) if judge in DISPLAY_NAMES else None
        if tokens is None:
            checks.append(Check("quota", f"tokens per minute, {judge}", True, "not found by name: check Service Quotas"))
        else:
            checks.append(Check("quota", tokens["QuotaName"], tokens["Value"] > 0, f"{tokens['Value']:g} tokens a minute"
                                + ("" if tokens["Value"] > 0 else "; request an increase in Service Quotas")))
    return checks


def run(clients: PreflightClients, params: StudyParams, models: list[str]) -> list[Check]:
    """Every check, each independent: one failing does not hide the others."""
    settings = params.bedrock
    conversing = {f"judge {i + 1}": judge for i, judge in enumerate(settings.judge_models)}
    if params.qa_generator == "bedrock":
        conversing["Q&A model"] = settings.qa_model
    used = {**{f"Nova {m}": STUDY_MODELS[m].converse_id for m in models}, **conversing, "embedding": settings.embedding_model}
    checks = [check for role, model_id in used.items() for check in _model(clients, role, model_id, settings.region)]
    checks += [_converse(clients, role, model_id) for role, model_id in conversing.items()]
    checks.append(_bucket(clients, settings.bucket, settings.region))
    checks += _role(clients, settings.role_arn)
    return checks + _quotas(clients, params, models)


def table(checks: list[Check]) -> str:
    frame = pd.DataFrame([{"check": c.what, "subject": c.subject, "ready": "ready" if c.ready else "NOT READY",
                           "detail": c.detail} for c in checks])
    with pd.option_context("display.max_colwidth", 110, "display.width", 250):
        return frame.to_string(index=False)


def require_ready(checks: list[Check], show: Callable[[str], None] = print) -> None:
    """Print the table; stop the run when anything is not ready (call at the start of a Bedrock study)."""
    show(table(checks))
    missing = [c for c in checks if not c.ready]
    if missing:
        raise NotReady(f"{len(missing)} check(s) not ready: " + "; ".join(f"{c.what} {c.subject}" for c in missing))
