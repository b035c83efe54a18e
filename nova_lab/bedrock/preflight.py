"""`nova-lab preflight`: before anything billable, is every model, profile, bucket, role and quota
the run needs there and usable? One table of what is ready and what is not, each with the way out.

It makes only free calls, plus one Converse of one output token to each judge and the Q&A
model (a few hundred-thousandths of a dollar), which proves model access end to end.

What a 1-token call cannot prove is asked of IAM's policy simulator, as IAM evaluates the real
calls: `iam:PassRole` with the `iam:PassedToService` the real call carries (a condition key
absent from the context makes its condition false), the Marketplace actions a third-party
model's first call needs, and the bucket listed with no prefix (`HeadBucket`). The simulator
takes only users, groups and roles, by their full ARN (an IAM Identity Center role has the path
`/aws-reserved/sso.amazonaws.com/...`, which the session's ARN drops: `GetRole` gives it back); a
caller it cannot take is reported as "could not check", a warning that does not stop the run.
Quotas are read as Service Quotas lists them: applied values, and the defaults it lists apart. With
`invocation: batch`, each batched model's quotas are checked against the jobs the plan submits: records per job and
per input file (one file a job), the least a job may hold, and room for one more job beside the account's own in
flight (the run keeps one job per model at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import boto3
import pandas as pd
from botocore.exceptions import ClientError

from nova_lab.bedrock.batch import IN_FLIGHT
from nova_lab.bedrock.iam import MARKETPLACE_ACTIONS, conversed
from nova_lab.bedrock.resources import pages
from nova_lab.core.bedrock_models import (
    BATCH_MIN_RECORDS,
    BATCH_QUOTA_NAMES,
    DISPLAY_NAMES,
    PROFILE_PREFIXES,
    foundation_model,
    third_party,
)
from nova_lab.core.params import ParamsError, StudyParams
from nova_lab.core.study_models import STUDY_MODELS
from nova_lab.costing import plan as planning


@dataclass(frozen=True)
class Check:
    what: str
    subject: str
    ready: bool | None  # None: could not check (a warning; the run may still start)
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


class PreflightFailed(ParamsError):
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
        detail += "; choose an active model (see docs/BEDROCK.md, models)"
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


PASSED_TO_BEDROCK = [{"ContextKeyName": "iam:PassedToService", "ContextKeyValues": ["bedrock.amazonaws.com"],
                      "ContextKeyType": "string"}]  # what CreateKnowledgeBase and CreateModelCustomizationJob carry


def simulated_principal(clients: PreflightClients, caller_arn: str) -> tuple[str | None, str]:
    """The ARN the policy simulator takes for the caller (a user, or the role behind a session, with its
    path), or None and why it cannot be checked."""
    resource = caller_arn.split(":", 5)[5]
    if resource == "root":
        return None, "the account's root user (the simulator takes users, groups and roles; AWS advises against root)"
    if resource.startswith("user/"):
        return caller_arn, ""
    if resource.startswith("assumed-role/"):
        role_name = resource.split("/")[1]
        try:
            return clients.iam.get_role(RoleName=role_name)["Role"]["Arn"], ""
        except ClientError as exc:
            return None, f"iam:GetRole on your role {role_name}: {_error(exc)}"
    return None, f"a caller of kind {resource.split('/')[0]!r} (the simulator takes users, groups and roles)"


def _simulated(clients: PreflightClients, principal: str, actions: list[str], resource: str,
               context: list[dict[str, Any]], way_out: str) -> list[Check]:
    """One check per action, as IAM's simulator decides it for `principal` on `resource` in `context`."""
    try:
        results = clients.iam.simulate_principal_policy(PolicySourceArn=principal, ActionNames=actions,
                                                        ResourceArns=[resource], ContextEntries=context)
    except ClientError as exc:
        return [Check(action, resource, None, f"could not check: {_error(exc)}") for action in actions]
    checks = []
    for result in results["EvaluationResults"]:
        allowed = result["EvalDecision"] == "allowed"
        missing = result.get("MissingContextValues", [])
        detail = f"{principal}: {result['EvalDecision']}" + (f" (no value for {', '.join(missing)})" if missing else "")
        checks.append(Check(result["EvalActionName"], resource, allowed, detail + ("" if allowed else f"; {way_out}")))
    return checks


def _permissions(clients: PreflightClients, params: StudyParams) -> list[Check]:
    """What the caller's identity policies allow of the calls a 1-token Converse cannot prove."""
    caller = clients.sts.get_caller_identity()["Arn"]
    principal, why_not = simulated_principal(clients, caller)
    if principal is None:
        return [Check("IAM permissions", caller, None, f"could not check: {why_not}; `nova-lab iam-policy` prints "
                                                         f"what the run needs")]
    settings = params.bedrock
    checks = _simulated(clients, principal, ["iam:PassRole"], settings.role_arn, PASSED_TO_BEDROCK,
                        "add the iam:PassRole statement `nova-lab iam-policy` prints")
    checks += _simulated(clients, principal, ["s3:ListBucket"], f"arn:aws:s3:::{settings.bucket}", [],
                         "HeadBucket needs s3:ListBucket with no prefix condition (`nova-lab iam-policy`)")
    if any(third_party(model_id) for model_id in conversed(params)):
        checks += _simulated(clients, principal, MARKETPLACE_ACTIONS, "*", [],
                             "a third-party model's first call subscribes in AWS Marketplace: without this, calls "
                             "fail after up to 15 minutes (`nova-lab iam-policy`)")
    return checks


def _role(clients: PreflightClients, role_arn: str) -> Check:
    try:
        clients.iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])
    except ClientError as exc:
        return Check("role", role_arn, False, f"{_error(exc)}; create it (`nova-lab iam-policy` prints its policies)")
    return Check("role", role_arn, True, "exists")


def quota_list(quotas_client: Any) -> list[dict[str, Any]]:
    """Bedrock's quotas as they apply to this account: `ListServiceQuotas` lists only the quotas set
    away from their default, so the defaults (`ListAWSDefaultServiceQuotas`) fill in the rest."""
    def by_code(operation: str) -> dict[str, dict[str, Any]]:
        return {q.get("QuotaCode") or q["QuotaName"]: q for q in pages(quotas_client, operation, "Quotas", ServiceCode="bedrock")}

    return list((by_code("list_aws_default_service_quotas") | by_code("list_service_quotas")).values())


def find_quota(quotas: list[dict[str, Any]], *words: str, unless: str | None = None) -> dict[str, Any] | None:
    """The quota whose name holds every word (case and hyphens aside), not `unless`; the shortest such
    name, so "Claude Sonnet 4.6" finds its own quota, not a longer-context variant's."""
    def plain(text: str) -> str:
        return text.lower().replace("-", " ")

    found = [q for q in quotas if all(plain(w) in plain(q["QuotaName"]) for w in words)
             and not (unless and plain(unless) in plain(q["QuotaName"]))]
    return min(found, key=lambda q: len(q["QuotaName"]), default=None)


def tokens_per_minute(quotas: list[dict[str, Any]], model_id: str) -> dict[str, Any] | None:
    """The per-minute token quota a call through `model_id` draws on: a `us.` (or `eu.`, `apac.`) profile
    the cross-Region one, a `global.` profile the global cross-Region one, a bare id the on-demand one."""
    name = DISPLAY_NAMES[model_id]
    if model_id.startswith("global."):
        return find_quota(quotas, "global", "cross region", "tokens per minute", name)
    if model_id.startswith(PROFILE_PREFIXES):
        return find_quota(quotas, "cross region", "tokens per minute", name, unless="global")
    return find_quota(quotas, "on demand", "tokens per minute", name)


def _token_quotas(quotas: list[dict[str, Any]], model_id: str, tokens_needed: float) -> list[Check]:
    """The model's tokens a minute (more than none) and a day (new accounts may get fewer than a
    day of the minute's rate: the run's planned tokens must fit, or the judge phase stops mid-way)."""
    if model_id not in DISPLAY_NAMES:
        return [Check("quota", f"tokens per minute, {model_id}", None, "no quota name known for this model: "
                                                                       "check Service Quotas")]
    checks = []
    minute = tokens_per_minute(quotas, model_id)
    if minute is None:
        checks.append(Check("quota", f"tokens per minute, {model_id}", None, "not listed: check Service Quotas"))
    else:
        checks.append(Check("quota", minute["QuotaName"], minute["Value"] > 0, f"{minute['Value']:,.0f} tokens a minute"
                            + ("" if minute["Value"] > 0 else "; request an increase in Service Quotas")))
    day = find_quota(quotas, "tokens per day", DISPLAY_NAMES[model_id])
    if day is not None:
        fits = day["Value"] >= tokens_needed
        checks.append(Check("quota", day["QuotaName"], fits, f"{day['Value']:,.0f} tokens a day, the run plans "
                            f"{tokens_needed:,.0f} on demand" + ("" if fits else "; request an increase in Service Quotas, or "
                                                       "the run stops when the day's tokens are spent")))
    return checks


MORE_BATCH = "request an increase in Service Quotas, or set bedrock.invocation: on_demand"


def _batch_limit(quota: dict[str, Any] | None, subject: str, fits: Callable[[float], bool], need: str) -> Check:
    """One batch quota against what the run's jobs need; unlisted: could not check (the model may not batch here)."""
    if quota is None:
        return Check("batch quota", subject, None, "not listed: check Service Quotas and that batch inference "
                                                   "serves this model in the Region (else set bedrock.invocation: on_demand)")
    ok = fits(quota["Value"])
    return Check("batch quota", quota["QuotaName"], ok, f"{quota['Value']:,.0f}; {need}" + ("" if ok else f"; {MORE_BATCH}"))


def _batch_quotas(clients: PreflightClients, quotas: list[dict[str, Any]], jobs: dict[planning.PlannedJob, int]) -> list[Check]:
    """Each batched model's quotas against the plan's jobs of it (user guide, "Format and upload your batch inference
    data": records per job, per input file, the least per job; and the jobs in progress or submitted at once)."""
    sizes: dict[str, list[int]] = {}
    for job, records in jobs.items():
        sizes.setdefault(job.model_id, []).append(records)
    in_flight: dict[str, int] = {}
    for summary in pages(clients.bedrock, "list_model_invocation_jobs", "invocationJobSummaries"):
        if summary["status"] in IN_FLIGHT:  # what the quota of jobs in progress and submitted counts
            model_id = summary["modelId"].rsplit("/", 1)[-1]  # an id, or a model's or profile's ARN
            in_flight[model_id] = in_flight.get(model_id, 0) + 1
    checks = []
    for model_id, records in sorted(sizes.items()):
        name = BATCH_QUOTA_NAMES.get(model_id)
        if name is None:
            checks.append(Check("batch quota", model_id, None, "no quota name known for this model: check Service Quotas"))
            continue
        largest, least, running = max(records), min(records), in_flight.get(model_id, 0)
        checks += [
            _batch_limit(find_quota(quotas, "records per batch inference job", name, unless="minimum"),
                         f"records per batch inference job, {name}", lambda v: v >= largest,
                         f"the largest of its {len(records)} job(s) holds {largest:,} records"),
            _batch_limit(find_quota(quotas, "records per input file per batch inference job", name),
                         f"records per input file, {name}", lambda v: v >= largest,
                         f"one input file a job, of up to {largest:,} records"),
            _batch_limit(find_quota(quotas, "minimum number of records per batch inference job", name),
                         f"least records per batch inference job, {name}", lambda v: v <= least,
                         f"the smallest job holds {least:,} records (the run batches {BATCH_MIN_RECORDS}+ only)"),
            _batch_limit(find_quota(quotas, "in-progress and submitted batch inference jobs", name),
                         f"batch inference jobs at once, {name}", lambda v: v - running >= 1,
                         f"{running} in flight in the account now, the run adds 1 at a time")]
    return checks


def _quotas(clients: PreflightClients, params: StudyParams, models: list[str], planned: planning.Plan) -> list[Check]:
    quotas = quota_list(clients.quotas)
    checks = []
    if not params.bedrock.allow_provisioned_throughput:
        deployments = find_quota(quotas, "custom model deployments")
        used = sum(1 for _ in pages(clients.bedrock, "list_custom_model_deployments", "modelDeploymentSummaries"))
        if deployments is None:
            checks.append(Check("quota", "custom model deployments", None, "not listed: check Service Quotas"))
        else:
            free = int(deployments["Value"]) - used
            checks.append(Check("quota", deployments["QuotaName"], free >= len(models),
                                f"{used} of {deployments['Value']:g} used, {len(models)} needed" + (
                                    "" if free >= len(models) else "; request an increase in Service Quotas")))
    tokens = planning.tokens_by_model(planned)
    for model_id in sorted(conversed(params)):
        checks += _token_quotas(quotas, model_id, tokens.get(model_id, 0.0))
    jobs = planned.batch_jobs()
    return checks + (_batch_quotas(clients, quotas, jobs) if jobs else [])


def run(clients: PreflightClients, params: StudyParams, models: list[str],
        planned: planning.Plan | None = None) -> list[Check]:
    """Every check, each independent: one failing does not hide the others. `planned`: the run's plan when the
    caller built it already (`nova-lab study` does, for its budget), whose tokens the day quotas must hold."""
    params = params.model_copy(update={"model": None, "models": list(models)})  # the sizes this run asks
    settings = params.bedrock
    conversing = {f"judge {i + 1}": judge for i, judge in enumerate(settings.judge_models)}
    if params.qa_generator == "bedrock":
        conversing["Q&A model"] = settings.qa_model
    if settings.evaluation_model:
        conversing["evaluator (Bedrock Evaluations)"] = settings.evaluation_model
    used = {**{f"Nova {m}": STUDY_MODELS[m].converse_id for m in models}, **conversing, "embedding": settings.embedding_model}
    checks = [check for role, model_id in used.items() for check in _model(clients, role, model_id, settings.region)]
    checks += [_converse(clients, role, model_id) for role, model_id in conversing.items()]
    checks.append(_bucket(clients, settings.bucket, settings.region))
    checks.append(_role(clients, settings.role_arn))
    checks += _permissions(clients, params)
    return checks + _quotas(clients, params, models, planned or planning.build(params, models))


def table(checks: list[Check]) -> str:
    shown = {True: "ready", False: "NOT READY", None: "could not check"}
    frame = pd.DataFrame([{"check": c.what, "subject": c.subject, "ready": shown[c.ready], "detail": c.detail}
                          for c in checks])
    with pd.option_context("display.max_colwidth", 110, "display.width", 250):
        return frame.to_string(index=False)


def require_ready(checks: list[Check], show: Callable[[str], None] = print) -> None:
    """Print the table; stop the run when anything is not ready (call at the start of a Bedrock study)."""
    show(table(checks))
    missing = [c for c in checks if c.ready is False]
    if missing:
        raise PreflightFailed(f"{len(missing)} check(s) not ready: " + "; ".join(f"{c.what} {c.subject}" for c in missing))
