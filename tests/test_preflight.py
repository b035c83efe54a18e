"""`nova-lab preflight` and `nova-lab iam-policy`: every check against Stubber (each request is checked
against the service model), a Legacy model, a missing profile, a bucket elsewhere and a full quota."""

import json

import pytest
from botocore.stub import Stubber

from fake_aws import iam_rules
from fake_aws.fake_iam import FakeIam
from nova_lab.bedrock import iam, preflight
from nova_lab.cli import main
from nova_lab.core import bedrock_models, paths
from nova_lab.core.params import load_params
from nova_lab.core.study_models import STUDY_MODELS

NOW = "2026-11-26T00:00:00Z"
ROLE = "arn:aws:iam::123456789012:role/NovaLabBedrock"
CALLER = "arn:aws:sts::123456789012:assumed-role/Researcher/alice"
RESEARCHER = "arn:aws:iam::123456789012:role/Researcher"
DEPLOYMENT = {"customModelDeploymentArn": "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef012345",
              "customModelDeploymentName": "other-serve", "createdAt": NOW, "status": "Active",
              "modelArn": "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-lite-v1:0:300k/abcdef012345"}


def foundation(model_id, status="ACTIVE", on_demand=True):
    return {"modelDetails": {"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{model_id}", "modelId": model_id,
                             "modelLifecycle": {"status": status},
                             "inferenceTypesSupported": ["ON_DEMAND"] if on_demand else ["INFERENCE_PROFILE"]}}


def profile(profile_id):
    return {"inferenceProfileName": profile_id, "inferenceProfileId": profile_id, "status": "ACTIVE", "type": "SYSTEM_DEFINED",
            "inferenceProfileArn": f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{profile_id}",
            "models": [{"modelArn": f"arn:aws:bedrock:{r}::foundation-model/x"} for r in ("us-east-1", "us-west-2")]}


REPLY = {"output": {"message": {"role": "assistant", "content": [{"text": "OK"}]}}, "stopReason": "max_tokens",
         "usage": {"inputTokens": 9, "outputTokens": 1, "totalTokens": 10}, "metrics": {"latencyMs": 120}}


@pytest.fixture
def stubbed(monkeypatch):
    """Every client stubbed but IAM's, which a fake answers as IAM evaluates policies (fake_iam.py)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = preflight.PreflightClients.create("us-east-1")
    fake = FakeIam()
    fake.attach(made.iam)
    stubs = {name: Stubber(client) for name, client in vars(made).items() if name != "iam"}
    for stub in stubs.values():
        stub.activate()
    yield made, stubs, fake
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def study_judges_params():
    params = load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "bedrock.yaml")
    return params.model_copy(update={"bedrock": params.bedrock.model_copy(
        update={"judge_models": bedrock_models.JUDGE_PRESETS["study"]})})


def default_params():
    return load_params(paths.PARAMS / "study.yaml", paths.PARAMS / "bedrock.yaml")


def quota(name, value, code):
    return {"QuotaName": name, "Value": value, "QuotaCode": code, "ServiceCode": "bedrock"}


NEW_ACCOUNT_DEFAULTS = [  # as ListAWSDefaultServiceQuotas lists them; a new account's applied list holds none
    quota("Custom model deployments per account", 3.0, "L-DEPLOY"),
    quota("On-demand InvokeModel tokens per minute for Amazon Nova Micro", 2_000_000.0, "L-MICRO"),
    quota("On-demand InvokeModel tokens per minute for Amazon Nova Lite", 2_000_000.0, "L-LITE"),
    quota("Cross-Region InvokeModel tokens per minute for Amazon Nova 2 Lite", 2_000_000.0, "L-NOVA2"),
    quota("On-demand InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 0.0, "L-CLAUDE-OD"),
    quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 200_000.0, "L-CLAUDE-CR"),
    quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6 1M Context Length", 0.0, "L-CLAUDE-1M"),
    quota("Model invocation max tokens per day for Anthropic Claude Sonnet 4.6", 288_000_000.0, "L-CLAUDE-DAY"),
    quota("Cross-Region InvokeModel tokens per minute for Meta Llama 4 Maverick", 300_000.0, "L-LLAMA-CR"),
    quota("Model invocation max tokens per day for Meta Llama 4 Maverick", 432_000_000.0, "L-LLAMA-DAY"),
    # The batch quotas, named as Service Quotas names them for Nova Micro V1 (the same five for each model); the
    # values are a test's (the user guide's least of 100 records a job; the others not read for these models).
    *(quota(f"{what} for {model}", value, f"L-B{i}{j}")
      for i, model in enumerate(["Nova Micro V1", "Nova Lite V1", "Nova 2 Lite", "Claude Sonnet 4.6", "Llama 4 Maverick"])
      for j, (what, value) in enumerate([("Records per batch inference job", 50_000.0),
                                         ("Records per input file per batch inference job", 50_000.0),
                                         ("Minimum number of records per batch inference job", 100.0),
                                         ("Sum of in-progress and submitted batch inference jobs using a base model", 20.0),
                                         ("Batch inference job size (in GB)", 5.0)]))]


def all_ready(stub, fake, params, nova, caller=CALLER, applied=(), defaults=NEW_ACCOUNT_DEFAULTS,
              caller_policy=None):
    """Every response of a preflight that finds everything ready, in the order the calls are made;
    the caller's role holds `caller_policy` (by default the one `nova-lab iam-policy` prints)."""
    b = stub["bedrock"]
    for model in nova:
        model_id = STUDY_MODELS[model].converse_id
        if model_id != bedrock_models.foundation_model(model_id):
            b.add_response("get_inference_profile", profile(model_id), {"inferenceProfileIdentifier": model_id})
            b.add_response("get_foundation_model", foundation(bedrock_models.foundation_model(model_id), on_demand=False),
                           {"modelIdentifier": bedrock_models.foundation_model(model_id)})
        else:
            b.add_response("get_foundation_model", foundation(model_id), {"modelIdentifier": model_id})
    for judge in params.bedrock.judge_models:
        b.add_response("get_inference_profile", profile(judge), {"inferenceProfileIdentifier": judge})
        b.add_response("get_foundation_model", foundation(bedrock_models.foundation_model(judge), on_demand=False))
    b.add_response("get_foundation_model", foundation("amazon.titan-embed-text-v2:0"))
    for _ in params.bedrock.judge_models:
        stub["bedrock_runtime"].add_response("converse", REPLY)
    stub["s3"].add_client_error("get_bucket_location", "NoSuchBucket", http_status_code=404)
    fake.add_role(ROLE)
    stub["sts"].add_response("get_caller_identity", {"Arn": caller, "Account": "123456789012", "UserId": "AROA:alice"})
    if ":assumed-role/" in caller and "Researcher" in caller:
        fake.add_role(RESEARCHER, caller_policy or iam.caller_policy(params))
    stub["quotas"].add_response("list_aws_default_service_quotas", {"Quotas": list(defaults)}, {"ServiceCode": "bedrock"})
    stub["quotas"].add_response("list_service_quotas", {"Quotas": list(applied)}, {"ServiceCode": "bedrock"})
    b.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})
    b.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []}, {})


def test_preflight_finds_a_legacy_model_a_missing_profile_a_bucket_elsewhere_and_a_full_quota(stubbed, capsys):
    clients, stub, fake = stubbed
    params = study_judges_params()
    claude, llama = bedrock_models.JUDGE_PRESETS["study"]
    b = stub["bedrock"]
    b.add_response("get_foundation_model", foundation("amazon.nova-lite-v1:0"), {"modelIdentifier": "amazon.nova-lite-v1:0"})
    b.add_response("get_inference_profile", profile(claude), {"inferenceProfileIdentifier": claude})
    b.add_response("get_foundation_model", foundation(bedrock_models.foundation_model(claude), "LEGACY", on_demand=False),
                   {"modelIdentifier": bedrock_models.foundation_model(claude)})
    b.add_client_error("get_inference_profile", "ResourceNotFoundException", "no such profile", 404,
                       expected_params={"inferenceProfileIdentifier": llama})
    b.add_response("get_foundation_model", foundation(bedrock_models.foundation_model(llama)),
                   {"modelIdentifier": bedrock_models.foundation_model(llama)})
    b.add_response("get_foundation_model", foundation("amazon.titan-embed-text-v2:0"),
                   {"modelIdentifier": "amazon.titan-embed-text-v2:0"})
    runtime = stub["bedrock_runtime"]
    runtime.add_response("converse", REPLY, {"modelId": claude, "inferenceConfig": {"maxTokens": 1},
                                             "messages": [{"role": "user", "content": [{"text": "Say OK."}]}]})
    runtime.add_client_error("converse", "ValidationException", "The provided model identifier is invalid.", 400)
    stub["s3"].add_response("get_bucket_location", {"LocationConstraint": "eu-west-1"}, {"Bucket": "my-nova-lab-bucket"})
    fake.add_role(ROLE)
    fake.add_role(RESEARCHER, iam.caller_policy(params))
    stub["sts"].add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"}, {})
    stub["quotas"].add_response("list_aws_default_service_quotas", {"Quotas": [
        quota("Custom model deployments per account", 2.0, "L-DEPLOY"),
        quota("On-demand InvokeModel tokens per minute for Amazon Nova Lite", 2_000_000.0, "L-LITE"),
        quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet", 400_000.0, "L-C35"),
        quota("Cross-Region InvokeModel tokens per minute for Meta Llama 3.1 70B Instruct", 300_000.0, "L-L31")]},
        {"ServiceCode": "bedrock"})
    stub["quotas"].add_response("list_service_quotas", {"Quotas": [  # applied: set to 0 for this account
        quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet", 0.0, "L-C35")]},
        {"ServiceCode": "bedrock"})
    b.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": [DEPLOYMENT, DEPLOYMENT]}, {})
    b.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []}, {})

    checks = preflight.run(clients, params, ["lite"])
    not_ready = {(c.what, c.subject) for c in checks if c.ready is False}
    assert not_ready == {
        ("model", bedrock_models.foundation_model(claude)),  # Legacy
        ("inference profile", llama), ("1-token Converse", llama),  # no profile
        ("bucket", "my-nova-lab-bucket"),  # in eu-west-1
        ("quota", "Custom model deployments per account"),  # 2 of 2 used
        ("quota", "Cross-Region InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet")}  # applied 0
    with pytest.raises(preflight.PreflightFailed, match="6 check\\(s\\) not ready"):
        preflight.require_ready(checks)
    table = capsys.readouterr().out
    assert "LEGACY; choose an active model" in table and "in eu-west-1; Bedrock in us-east-1 needs a bucket there" in table
    assert "2 of 2 used, 1 needed; request an increase" in table
    print(table)  # the README shows this table


@pytest.mark.parametrize("nova", [["lite"], ["micro", "lite"], ["micro", "lite", "nova2_lite"]])
def test_the_default_models_all_ready_on_a_new_account(stubbed, nova, capsys, strict_aws_requests):
    """A new account: no applied quota, every quota at its default (listed apart); the caller holds the
    policy `nova-lab iam-policy` prints, and the simulator is asked with the context the real calls carry.
    Every request the preflight made is one that policy allows, as IAM evaluates it."""
    clients, stub, fake = stubbed
    params = default_params()
    all_ready(stub, fake, params, nova)
    checks = preflight.run(clients, params, nova)
    assert all(check.ready for check in checks), preflight.table(checks)
    print(preflight.table(checks))  # docs/BEDROCK.md shows the table of micro and lite
    policies = iam.policies(params.model_copy(update={"models": nova}))
    refused, evaluated = iam_rules.refusals(strict_aws_requests.requests, policies, "123456789012", "us-east-1")
    assert not refused and len(evaluated) > 10, refused
    preflight.require_ready(checks)
    table = capsys.readouterr().out
    assert f"Nova {nova[-1]}: ACTIVE" in table and "iam:PassRole" in table and "aws-marketplace:Subscribe" in table
    assert "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6 " in table + " "  # not on-demand's
    with capsys.disabled():  # pytest -s shows it (the closing note and README quote it)
        print(table)


def test_passrole_is_simulated_with_the_service_it_is_passed_to(stubbed):
    """The printed policy allows PassRole only when passed to Bedrock: asked with no context, IAM's
    simulator answers implicitDeny and lists iam:PassedToService as missing."""
    clients, stub, fake = stubbed
    params = default_params()
    fake.add_role(RESEARCHER, iam.caller_policy(params))
    stub["sts"].add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"})
    checks = {c.what: c for c in preflight._permissions(clients, params)}
    assert checks["iam:PassRole"].ready is True, checks["iam:PassRole"].detail
    bare = clients.iam.simulate_principal_policy(PolicySourceArn=RESEARCHER, ActionNames=["iam:PassRole"],
                                                 ResourceArns=[ROLE])["EvaluationResults"][0]
    assert bare["EvalDecision"] == "implicitDeny" and bare["MissingContextValues"] == ["iam:PassedToService"]


@pytest.mark.parametrize("caller, why", [
    ("arn:aws:iam::123456789012:root", "root user"),
    ("arn:aws:sts::123456789012:federated-user/alice", "federated-user")])
def test_a_caller_the_simulator_cannot_take_is_a_warning_not_a_crash(stubbed, caller, why):
    clients, stub, fake = stubbed
    params = default_params()
    all_ready(stub, fake, params, ["micro", "lite"], caller=caller)
    checks = preflight.run(clients, params, ["micro", "lite"])
    unchecked = [c for c in checks if c.ready is None]
    assert [c.what for c in unchecked] == ["IAM permissions"] and why in unchecked[0].detail
    preflight.require_ready(checks)  # a warning does not stop the run


def test_an_identity_center_caller_is_simulated_as_its_role_with_its_path(stubbed):
    """The session ARN drops the role's path; the simulator needs the role's own ARN (GetRole gives it)."""
    clients, stub, fake = stubbed
    params = default_params()
    sso_role = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Researcher_0123456789abcdef"
    fake.add_role(sso_role, iam.caller_policy(params))
    stub["sts"].add_response("get_caller_identity", {
        "Arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Researcher_0123456789abcdef/alice",
        "Account": "123456789012", "UserId": "AROA:alice"})
    checks = preflight._permissions(clients, params)
    assert checks and all(c.ready is True for c in checks), [c.detail for c in checks]
    assert sso_role in checks[0].detail


def test_a_caller_without_the_marketplace_actions_is_not_ready_for_third_party_judges(stubbed):
    """A third-party model's first call subscribes in AWS Marketplace: a 1-token Converse succeeds
    without the permission (for up to 15 minutes), the simulator does not."""
    clients, stub, fake = stubbed
    params = default_params()
    policy = iam.caller_policy(params)
    policy = {**policy, "Statement": [s for s in policy["Statement"] if "aws-marketplace:Subscribe" not in s["Action"]]}
    fake.add_role(RESEARCHER, policy)
    stub["sts"].add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"})
    not_ready = {c.what for c in preflight._permissions(clients, params) if c.ready is False}
    assert not_ready == set(iam.MARKETPLACE_ACTIONS)


def test_quotas_at_their_default_are_read_and_profiles_draw_on_the_cross_region_quota(stubbed):
    """A new account lists no applied quota: the defaults decide. A `us.` profile draws on the
    cross-Region quota (here 0), not on the on-demand one listed before it."""
    clients, stub, _ = stubbed
    defaults = [quota("On-demand InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 200_000.0, "L-OD"),
                quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 0.0, "L-CR")]
    stub["quotas"].add_response("list_aws_default_service_quotas", {"Quotas": defaults})
    stub["quotas"].add_response("list_service_quotas", {"Quotas": []})
    quotas = preflight.quota_list(clients.quotas)
    assert preflight.tokens_per_minute(quotas, bedrock_models.CLAUDE_SONNET_4_6)["QuotaCode"] == "L-CR"
    checks = preflight._token_quotas(quotas, bedrock_models.CLAUDE_SONNET_4_6, 1000)
    assert [(c.subject, c.ready) for c in checks] == [(defaults[1]["QuotaName"], False)]


def test_a_day_quota_below_the_planned_tokens_is_not_ready():
    """New accounts may get fewer tokens a day than the judge phase plans: it would stop mid-way."""
    quotas = [quota("Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4.6", 200_000.0, "L-CR"),
              quota("Model invocation max tokens per day for Anthropic Claude Sonnet 4.6", 1_000_000.0, "L-DAY")]
    params = default_params()
    on_demand = params.model_copy(update={"bedrock": params.bedrock.model_copy(update={"invocation": "on_demand"})})
    planned = preflight.planning.tokens_by_model(preflight.planning.build(on_demand, ["micro", "lite"]))
    assert planned[bedrock_models.CLAUDE_SONNET_4_6] > 1_000_000
    in_batch = preflight.planning.tokens_by_model(preflight.planning.build(params, ["micro", "lite"]))
    assert in_batch.get(bedrock_models.CLAUDE_SONNET_4_6, 0) < 1_000_000  # batch jobs draw on their own quotas
    checks = preflight._token_quotas(quotas, bedrock_models.CLAUDE_SONNET_4_6, planned[bedrock_models.CLAUDE_SONNET_4_6])
    day = next(c for c in checks if "per day" in c.subject)
    assert day.ready is False and "the run stops when the day's tokens are spent" in day.detail


def test_iam_policy_names_passrole_tag_on_create_and_the_profiles(capsys):
    params = load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "bedrock.yaml")
    caller = iam.caller_policy(params)
    statements = caller["Statement"]
    passrole = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert passrole["Resource"] == params.bedrock.role_arn
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    assert "bedrock:TagResource" in statements[0]["Action"] and "bedrock:GetInferenceProfile" in statements[0]["Action"]
    invoke = next(s for s in statements if "bedrock:InvokeModel" in s["Action"])["Resource"]
    for judge in params.bedrock.judge_models:  # the profile here, its model in every region it routes to
        assert f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{judge}" in invoke
        assert f"arn:aws:bedrock:*::foundation-model/{bedrock_models.foundation_model(judge)}" in invoke
    trust = iam.role_policies(params)["trust"]["Statement"][0]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert main(["iam-policy", "--params", str(paths.PARAMS / "lite.yaml"), str(paths.PARAMS / "bedrock.yaml")]) == 0
    out = capsys.readouterr().out
    documents = [json.loads(part.split("\n", 1)[1]) for part in out.strip().split("\n\n# ")]
    assert len(documents) == 3 and all(d["Version"] == "2012-10-17" for d in documents)


def test_batch_quotas_are_checked_against_the_jobs_the_plan_submits(stubbed):
    """At 10x the test set a judge's job holds 14,400 records: over an account's 10,000 records a job it is not
    ready; two of the account's own jobs in flight fill a quota of 2 jobs at once (a finished one does not count,
    and a job's model is matched whether listed by id or by profile ARN); a model whose batch quotas are not listed
    cannot be checked (a warning: it may not batch in the Region); a least per job above a job's records is not ready."""
    clients, stub, _ = stubbed
    params = default_params()
    claude, llama = params.bedrock.judge_models
    jobs = preflight.planning.build(params, ["micro", "lite"], scale=10).batch_jobs()
    assert max(n for job, n in jobs.items() if job.model_id == claude) == 14_400
    listed = [quota("Records per batch inference job for Claude Sonnet 4.6", 10_000.0, "L-1"),
              quota("Records per input file per batch inference job for Claude Sonnet 4.6", 50_000.0, "L-2"),
              quota("Minimum number of records per batch inference job for Claude Sonnet 4.6", 100.0, "L-3"),
              quota("Sum of in-progress and submitted batch inference jobs using a base model for Claude Sonnet 4.6",
                    2.0, "L-4"),
              *(quota(f"{what} for {model}", value, f"L-{model}-{value}")
                for model in ("Nova Micro V1", "Nova Lite V1")
                for what, value in (("Records per batch inference job", 50_000.0),
                                    ("Records per input file per batch inference job", 50_000.0),
                                    ("Minimum number of records per batch inference job", 10_000.0),
                                    ("Sum of in-progress and submitted batch inference jobs using a base model", 20.0)))]

    def summary(model, status):
        return {"jobArn": "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdef012345", "jobName": "theirs",
                "modelId": model, "roleArn": ROLE, "status": status, "submitTime": "2026-12-06T00:00:00Z",
                "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://their-bucket/in/"}},
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://their-bucket/out/"}}}
    stub["bedrock"].add_response("list_model_invocation_jobs", {"invocationJobSummaries": [
        summary(claude, "InProgress"), summary(f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{claude}", "Scheduled"),
        summary(claude, "Completed")]}, {})
    checks = {c.subject: c for c in preflight._batch_quotas(clients, listed, jobs)}
    assert {s for s, c in checks.items() if c.ready is False} == {
        "Records per batch inference job for Claude Sonnet 4.6",
        "Sum of in-progress and submitted batch inference jobs using a base model for Claude Sonnet 4.6",
        "Minimum number of records per batch inference job for Nova Micro V1",  # a least of 10,000: its job holds
        "Minimum number of records per batch inference job for Nova Lite V1"}  # the model's 7,200 base answers
    assert "holds 14,400 records; request an increase in Service Quotas, or set bedrock.invocation: on_demand" in \
        checks["Records per batch inference job for Claude Sonnet 4.6"].detail
    assert "2 in flight in the account now" in checks[
        "Sum of in-progress and submitted batch inference jobs using a base model for Claude Sonnet 4.6"].detail
    assert {s for s, c in checks.items() if c.ready is None} == {
        f"{what}, Llama 4 Maverick" for what in ("records per batch inference job", "records per input file",
                                                 "least records per batch inference job", "batch inference jobs at once")}
