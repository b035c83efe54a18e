"""The tests' IAM evaluation (fake_aws/iam_rules.py) against what AWS documents of IAM, so that the
check of every recorded request proves something about a real account: conditions with missing
keys, negated operators, explicit denies, wildcards; and what each kind of call needs."""

import pytest

from fake_aws import iam_rules
from fake_aws.iam_rules import Walk, evaluate
from nova_lab.bedrock import iam
from nova_lab.core import paths
from nova_lab.core.params import load_params
from nova_lab.core.study_models import STUDY_MODELS

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/NovaLabBedrock"
PASS = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
    "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}}]}


def test_a_condition_key_missing_from_the_context_makes_the_condition_false_and_is_reported():
    bare = evaluate([PASS], "iam:PassRole", ROLE)
    assert (bare.decision, bare.missing) == ("implicitDeny", ("iam:PassedToService",))
    assert evaluate([PASS], "iam:PassRole", ROLE, {"iam:PassedToService": ("bedrock.amazonaws.com",)}).decision == "allowed"
    assert evaluate([PASS], "iam:PassRole", ROLE, {"iam:PassedToService": ("ec2.amazonaws.com",)}).decision == "implicitDeny"


@pytest.mark.parametrize("operator, context, decision", [
    ("StringNotEquals", {}, "allowed"),  # a negated operator with its key absent is true
    ("StringNotEquals", {"s3:prefix": ("a/",)}, "implicitDeny"),
    ("StringLikeIfExists", {}, "allowed"),  # ...IfExists: absent is true
    ("StringLikeIfExists", {"s3:prefix": ("b/",)}, "implicitDeny"),
    ("StringLike", {"s3:prefix": ("a/x",)}, "implicitDeny"),  # "a/" matches only itself: no wildcard
    ("ForAllValues:StringEquals", {}, "allowed"),  # no values: vacuously all
    ("ForAnyValue:StringEquals", {}, "implicitDeny")])
def test_condition_operators_as_iam_defines_them(operator, context, decision):
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
                             "Condition": {operator: {"s3:prefix": ["a/"]}}}]}
    assert evaluate([policy], "s3:ListBucket", "arn:aws:s3:::b", context).decision == decision


def test_an_explicit_deny_wins_and_wildcards_match_as_iam_matches_them():
    allow = {"Statement": [{"Effect": "Allow", "Action": "S3:Get*", "Resource": "arn:aws:s3:::b/tag/*"}]}
    deny = {"Statement": [{"Effect": "Deny", "NotAction": "s3:List*", "Resource": "*"}]}
    assert evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/tag/x/y.txt").decision == "allowed"  # actions: any case
    assert evaluate([allow], "s3:GetObject", "arn:aws:s3:::b/TAG/x").decision == "implicitDeny"  # resources: exact case
    assert evaluate([allow, deny], "s3:GetObject", "arn:aws:s3:::b/tag/x").decision == "explicitDeny"
    assert evaluate([deny], "s3:ListBucket", "arn:aws:s3:::b").decision == "implicitDeny"  # NotAction spares it


def test_an_unknown_operator_action_or_condition_key_fails_loudly():
    policy = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                             "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}}}]}
    with pytest.raises(iam_rules.UnknownToIam, match="DateLessThan"):
        evaluate([policy], "s3:GetObject", "*", {"aws:CurrentTime": ("2026-01-01",)})
    with pytest.raises(iam_rules.UnknownToIam, match="not an action"):
        Walk(ACCOUNT, REGION).needs("s3", "GetObjects", {"Bucket": "b", "Key": "k"})
    with pytest.raises(iam_rules.UnknownToIam, match="no condition key"):
        iam_rules.checked(iam_rules.Need("s3 GetObject", "caller", "s3:GetObject", "*", {"iam:PassedToService": ("x",)}))


def test_what_calls_need_beyond_their_namesake():
    walk = Walk(ACCOUNT, REGION)
    head = walk.needs("s3", "HeadBucket", {"Bucket": "b"})
    assert [(n.action, n.resource, n.context) for n in head] == [("s3:ListBucket", "arn:aws:s3:::b", {})]
    tagged = walk.needs("s3vectors", "CreateVectorBucket", {"vectorBucketName": "v", "tags": {"k": "t"}})
    assert [n.action for n in tagged] == ["s3vectors:CreateVectorBucket", "s3vectors:TagResource"]
    claude = walk.needs("bedrock-runtime", "Converse", {"modelId": "us.anthropic.claude-sonnet-4-6", "messages": []})
    actions = {(n.action, n.resource) for n in claude}
    assert ("bedrock:InvokeModel", f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.anthropic.claude-sonnet-4-6") in actions
    assert ("bedrock:InvokeModel", "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-sonnet-4-6") in actions
    assert {a for a, _ in actions} >= set(iam_rules.MARKETPLACE)
    nova = walk.needs("bedrock-runtime", "Converse", {"modelId": "amazon.nova-lite-v1:0", "messages": []})
    assert [n.action for n in nova] == ["bedrock:InvokeModel"]  # Amazon's own: no Marketplace subscription


@pytest.mark.parametrize("model", ["micro", "lite", "nova2_lite"])
def test_the_printed_caller_policy_lets_each_nova_size_be_asked(model):
    """Nova 2 Lite is asked through its `us.` profile: the profile's ARN must be in the policy too."""
    params = load_params(paths.PARAMS / f"{model}.yaml", paths.PARAMS / "bedrock.yaml")
    needs = Walk(ACCOUNT, REGION).needs("bedrock-runtime", "Converse",
                                        {"modelId": STUDY_MODELS[model].converse_id, "messages": []})
    policy = iam.caller_policy(params)
    refused = [(n.action, n.resource) for n in needs if evaluate([policy], n.action, n.resource, n.context).decision != "allowed"]
    assert not refused
