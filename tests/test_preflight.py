"""`nova-lab preflight` and `nova-lab iam-policy`: every check against Stubber (each request is checked
against the service model), a Legacy model, a missing profile, a bucket elsewhere and a full quota."""

import json

import pytest
from botocore.stub import Stubber

from nova_lab import paths
from nova_lab.bedrock import iam, models, preflight
from nova_lab.cli import main
from nova_lab.params import load_params
from nova_lab.study_models import STUDY_MODELS

NOW = "2026-11-26T00:00:00Z"
ROLE = "arn:aws:iam::123456789012:role/NovaLabBedrock"
CALLER = "arn:aws:sts::123456789012:assumed-role/Researcher/alice"
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
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    made = preflight.PreflightClients.create("us-east-1")
    stubs = [Stubber(client) for client in vars(made).values()]
    for stub in stubs:
        stub.activate()
    yield made, dict(zip(vars(made), stubs))
    for stub in stubs:
        stub.assert_no_pending_responses()


def study_judges_params():
    params = load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "bedrock.yaml")
    return params.model_copy(update={"bedrock": params.bedrock.model_copy(
        update={"judge_models": models.JUDGE_PRESETS["study"]})})


def test_preflight_finds_a_legacy_model_a_missing_profile_a_bucket_elsewhere_and_a_full_quota(stubbed, capsys):
    clients, stub = stubbed
    claude, llama = models.JUDGE_PRESETS["study"]
    b = stub["bedrock"]
    b.add_response("get_foundation_model", foundation("amazon.nova-lite-v1:0"), {"modelIdentifier": "amazon.nova-lite-v1:0"})
    b.add_response("get_inference_profile", profile(claude), {"inferenceProfileIdentifier": claude})
    b.add_response("get_foundation_model", foundation(models.foundation_model(claude), "LEGACY", on_demand=False),
                   {"modelIdentifier": models.foundation_model(claude)})
    b.add_client_error("get_inference_profile", "ResourceNotFoundException", "no such profile", 404,
                       expected_params={"inferenceProfileIdentifier": llama})
    b.add_response("get_foundation_model", foundation(models.foundation_model(llama)),
                   {"modelIdentifier": models.foundation_model(llama)})
    b.add_response("get_foundation_model", foundation("amazon.titan-embed-text-v2:0"),
                   {"modelIdentifier": "amazon.titan-embed-text-v2:0"})
    runtime = stub["bedrock_runtime"]
    runtime.add_response("converse", REPLY, {"modelId": claude, "inferenceConfig": {"maxTokens": 1},
                                             "messages": [{"role": "user", "content": [{"text": "Say OK."}]}]})
    runtime.add_client_error("converse", "ValidationException", "The provided model identifier is invalid.", 400)
    stub["s3"].add_response("get_bucket_location", {"LocationConstraint": "eu-west-1"}, {"Bucket": "my-nova-lab-bucket"})
    stub["iam"].add_response("get_role", {"Role": {"Path": "/", "RoleName": "NovaLabBedrock", "RoleId": "AROAEXAMPLE0000000",
                                                   "Arn": ROLE, "CreateDate": NOW}}, {"RoleName": "NovaLabBedrock"})
    stub["sts"].add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"}, {})
    stub["iam"].add_response("simulate_principal_policy", {"EvaluationResults": [
        {"EvalActionName": "iam:PassRole", "EvalDecision": "allowed"}]},
        {"PolicySourceArn": "arn:aws:iam::123456789012:role/Researcher", "ActionNames": ["iam:PassRole"], "ResourceArns": [ROLE]})
    stub["quotas"].add_response("list_service_quotas", {"Quotas": [
        {"QuotaName": "Custom model deployments per account", "Value": 2.0},
        {"QuotaName": "On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet", "Value": 0.0},
        {"QuotaName": "On-demand model inference tokens per minute for Meta Llama 3.1 70B Instruct", "Value": 300000.0}]},
        {"ServiceCode": "bedrock"})
    b.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": [DEPLOYMENT, DEPLOYMENT]}, {})

    checks = preflight.run(clients, study_judges_params(), ["lite"])
    not_ready = {(c.what, c.subject) for c in checks if not c.ready}
    assert not_ready == {
        ("model", models.foundation_model(claude)),  # Legacy
        ("inference profile", llama), ("1-token Converse", llama),  # no profile
        ("bucket", "my-nova-lab-bucket"),  # in eu-west-1
        ("quota", "Custom model deployments per account"),  # 2 of 2 used
        ("quota", "On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet")}
    with pytest.raises(preflight.NotReady, match="6 check\\(s\\) not ready"):
        preflight.require_ready(checks)
    table = capsys.readouterr().out
    assert "LEGACY; choose an active model" in table and "in eu-west-1; Bedrock in us-east-1 needs a bucket there" in table
    assert "2 of 2 used, 1 needed; request an increase" in table
    print(table)  # the README shows this table


@pytest.mark.parametrize("nova", [["lite"], ["micro", "lite", "nova2_lite"]])
def test_the_default_models_all_ready(stubbed, nova, capsys):
    """Nova 2 Lite is asked for through its US inference profile, then its foundation model, as the judges are."""
    clients, stub = stubbed
    params = load_params(paths.PARAMS / "lite.yaml", paths.PARAMS / "bedrock.yaml")
    b = stub["bedrock"]
    for model in nova:
        model_id = STUDY_MODELS[model].converse_id
        if model_id != models.foundation_model(model_id):
            b.add_response("get_inference_profile", profile(model_id), {"inferenceProfileIdentifier": model_id})
            b.add_response("get_foundation_model", foundation(models.foundation_model(model_id), on_demand=False),
                           {"modelIdentifier": models.foundation_model(model_id)})
        else:
            b.add_response("get_foundation_model", foundation(model_id), {"modelIdentifier": model_id})
    for judge in params.bedrock.judge_models:
        b.add_response("get_inference_profile", profile(judge), {"inferenceProfileIdentifier": judge})
        b.add_response("get_foundation_model", foundation(models.foundation_model(judge), on_demand=False))
    b.add_response("get_foundation_model", foundation("amazon.titan-embed-text-v2:0"))
    for _ in params.bedrock.judge_models:
        stub["bedrock_runtime"].add_response("converse", REPLY)
    stub["s3"].add_client_error("get_bucket_location", "NoSuchBucket", http_status_code=404)
    stub["iam"].add_response("get_role", {"Role": {"Path": "/", "RoleName": "NovaLabBedrock", "RoleId": "AROAEXAMPLE0000000",
                                                   "Arn": ROLE, "CreateDate": NOW}})
    stub["sts"].add_response("get_caller_identity", {"Arn": CALLER, "Account": "123456789012", "UserId": "AROA:alice"})
    stub["iam"].add_response("simulate_principal_policy", {"EvaluationResults": [
        {"EvalActionName": "iam:PassRole", "EvalDecision": "allowed"}]})
    stub["quotas"].add_response("list_service_quotas", {"Quotas": [
        {"QuotaName": "Custom model deployments per account", "Value": 3.0},
        {"QuotaName": "On-demand model inference tokens per minute for Anthropic Claude Sonnet 4.6", "Value": 200000.0},
        {"QuotaName": "On-demand model inference tokens per minute for Meta Llama 4 Maverick", "Value": 300000.0}]})
    b.add_response("list_custom_model_deployments", {"modelDeploymentSummaries": []})
    checks = preflight.run(clients, params, nova)
    assert all(check.ready for check in checks), preflight.table(checks)
    preflight.require_ready(checks)
    table = capsys.readouterr().out
    assert f"Nova {nova[-1]}: ACTIVE" in table
    with capsys.disabled():  # pytest -s shows it (the closing note and README quote it)
        print(table)


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
        assert f"arn:aws:bedrock:*::foundation-model/{models.foundation_model(judge)}" in invoke
    trust = iam.role_policies(params)["trust"]["Statement"][0]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert main(["iam-policy", "--params", str(paths.PARAMS / "lite.yaml"), str(paths.PARAMS / "bedrock.yaml")]) == 0
    out = capsys.readouterr().out
    documents = [json.loads(part.split("\n", 1)[1]) for part in out.strip().split("\n\n# ")]
    assert len(documents) == 3 and all(d["Version"] == "2012-10-17" for d in documents)
