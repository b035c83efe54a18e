"""The IAM policies a Bedrock run needs, written from the calls it makes (`nova-lab iam-policy`).

Two principals act: the role Bedrock assumes (`role_arn`: the customization job reads and writes
the bucket, the knowledge base embeds and writes vectors, a batch inference job reads its records,
invokes its model and writes its output), and the caller who runs the notebooks
(every control-plane and runtime call, passing the role, tagging on create, invoking models
through cross-region inference profiles, whose requests land in any of the profile's regions).

Written for IAM as AWS evaluates it, call by call (tests/test_bedrock_notebooks.py checks every
request of a recorded study against these documents): `HeadBucket` is authorised as `s3:ListBucket`
with no `s3:prefix` in its context, so the bucket's list permission carries no prefix condition; a
create with tags needs the service's `TagResource` too; the first call to a third-party model
(Anthropic, Meta) subscribes the account in AWS Marketplace, which needs the Marketplace actions
(without them calls succeed for up to 15 minutes, then fail with AccessDenied).
"""

from __future__ import annotations

from typing import Any

from nova_lab.bedrock.resources import vector_bucket_name
from nova_lab.core.bedrock_models import foundation_model, third_party
from nova_lab.core.params import StudyParams
from nova_lab.core.study_models import STUDY_MODELS

# What the caller's run calls, by service (`nova-lab plan` lists when; teardown's list and delete calls included).
CALLER_ACTIONS = {
    "bedrock": ["GetFoundationModel", "GetInferenceProfile", "ListFoundationModels",
                "CreateModelCustomizationJob", "GetModelCustomizationJob", "ListModelCustomizationJobs",
                "StopModelCustomizationJob", "GetCustomModel", "ListCustomModels", "DeleteCustomModel",
                "CreateCustomModelDeployment", "GetCustomModelDeployment", "ListCustomModelDeployments",
                "DeleteCustomModelDeployment", "CreateProvisionedModelThroughput", "GetProvisionedModelThroughput",
                "ListProvisionedModelThroughputs", "DeleteProvisionedModelThroughput",
                "CreateKnowledgeBase", "GetKnowledgeBase", "ListKnowledgeBases", "DeleteKnowledgeBase",
                "CreateDataSource", "GetDataSource", "ListDataSources", "DeleteDataSource",
                "StartIngestionJob", "GetIngestionJob", "ListIngestionJobs", "Retrieve",
                "CreateModelInvocationJob", "GetModelInvocationJob", "ListModelInvocationJobs",
                "StopModelInvocationJob",
                "CreateEvaluationJob", "GetEvaluationJob", "ListEvaluationJobs", "StopEvaluationJob",
                "TagResource", "ListTagsForResource"],  # TagResource: tags given on create need it
    "s3vectors": ["CreateVectorBucket", "ListVectorBuckets", "DeleteVectorBucket", "CreateIndex", "GetIndex",
                  "ListIndexes", "DeleteIndex", "TagResource"],  # TagResource: the vector bucket is tagged on create
    "aoss": ["CreateSecurityPolicy", "GetSecurityPolicy", "DeleteSecurityPolicy", "CreateAccessPolicy",
             "GetAccessPolicy", "DeleteAccessPolicy", "CreateCollection", "BatchGetCollection", "ListCollections",
             "DeleteCollection", "TagResource", "ListTagsForResource", "APIAccessAll"],
    "servicequotas": ["ListServiceQuotas", "ListAWSDefaultServiceQuotas", "GetServiceQuota"],
    "iam": ["GetRole", "SimulatePrincipalPolicy"],
    "sts": ["GetCallerIdentity"],
}


# What an evaluation job's role does with its evaluator model (user guide, "Required permissions ... model as a
# judge": the role invokes it and may run it as a batch inference job).
EVALUATOR_ACTIONS = ["bedrock:InvokeModel", "bedrock:CreateModelInvocationJob", "bedrock:StopModelInvocationJob"]


def _account(params: StudyParams) -> str:
    return params.bedrock.role_arn.split(":")[4]


def conversed(params: StudyParams) -> set[str]:
    """The Converse ids of every base model the run asks: judges, the Q&A model (when it writes the
    pairs), the Nova sizes, the evaluator of Bedrock Evaluations (when set: the caller needs it too)."""
    settings = params.bedrock
    writer = {settings.qa_model} if params.qa_generator == "bedrock" else set()
    evaluator = {settings.evaluation_model} if settings.evaluation_model else set()
    return {*settings.judge_models, *writer, *evaluator, *(STUDY_MODELS[m].converse_id for m in params.sizes)}


def _model_arns(params: StudyParams, ids: set[str]) -> set[str]:
    """The ARNs a call to each model is authorised on: a profile in the run's region, and its foundation model
    in every region (a profile routes anywhere it covers)."""
    settings, account = params.bedrock, _account(params)
    arns = {f"arn:aws:bedrock:*::foundation-model/{foundation_model(model_id)}" for model_id in ids}
    return arns | {f"arn:aws:bedrock:{settings.region}:{account}:inference-profile/{model_id}"
                   for model_id in ids if model_id != foundation_model(model_id)}


def _invocable(params: StudyParams) -> list[str]:
    """Every model the run invokes, as the ARNs InvokeModel/Converse are authorised on."""
    settings, account = params.bedrock, _account(params)
    arns = _model_arns(params, {*conversed(params), settings.embedding_model})
    arns |= {"arn:aws:bedrock:*::foundation-model/amazon.nova-*",
             f"arn:aws:bedrock:{settings.region}:{account}:custom-model-deployment/*",
             f"arn:aws:bedrock:{settings.region}:{account}:provisioned-model/*"}
    return sorted(arns)


def _bucket_statement(params: StudyParams) -> list[dict[str, Any]]:
    """The bucket listed and located with no prefix condition (`HeadBucket` and the customization job's
    own checks carry no `s3:prefix`, as in AWS's Nova fine-tuning sample); objects only under the tag."""
    bucket, tag = params.bedrock.bucket, params.bedrock.study_tag
    return [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": f"arn:aws:s3:::{bucket}/{tag}/*"}]


MARKETPLACE_ACTIONS = ["aws-marketplace:Subscribe", "aws-marketplace:Unsubscribe", "aws-marketplace:ViewSubscriptions"]


def _marketplace_statement(params: StudyParams) -> list[dict[str, Any]]:
    """A third-party model's first call subscribes the account to it in AWS Marketplace (these
    actions have no resource type: `*`). Nova and Titan need none."""
    if not any(third_party(model_id) for model_id in conversed(params)):
        return []
    return [{"Effect": "Allow", "Action": MARKETPLACE_ACTIONS, "Resource": "*"}]


def role_policies(params: StudyParams) -> dict[str, Any]:
    """The role's trust policy (Bedrock may assume it, from this account) and its permissions."""
    settings, account = params.bedrock, _account(params)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]}
    store = ({"Effect": "Allow", "Action": ["s3vectors:PutVectors", "s3vectors:GetVectors", "s3vectors:DeleteVectors",
                                             "s3vectors:QueryVectors", "s3vectors:GetIndex"],
              "Resource": f"arn:aws:s3vectors:{settings.region}:{account}:bucket/{vector_bucket_name(settings)}/*"}
             if settings.vector_store == "s3_vectors" else
             {"Effect": "Allow", "Action": ["aoss:APIAccessAll"],
              "Resource": f"arn:aws:aoss:{settings.region}:{account}:collection/*"})
    batch = [{"Effect": "Allow", "Action": ["bedrock:InvokeModel"], "Resource": _invocable(params)}] \
        if settings.invocation == "batch" else []  # a batch inference job invokes its model as the role
    evaluator = [{"Effect": "Allow", "Action": EVALUATOR_ACTIONS,  # the user guide's judge service role
                  "Resource": sorted(_model_arns(params, {settings.evaluation_model}))}] if settings.evaluation_model else []
    permissions = {"Version": "2012-10-17", "Statement": [
        *_bucket_statement(params),
        {"Effect": "Allow", "Action": ["bedrock:InvokeModel"],
         "Resource": f"arn:aws:bedrock:{settings.region}::foundation-model/{settings.embedding_model}"},
        store, *batch, *evaluator]}
    return {"trust": trust, "permissions": permissions}


def caller_policy(params: StudyParams) -> dict[str, Any]:
    """What the person (or CI role) running the study needs."""
    settings = params.bedrock
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": sorted(f"{service}:{action}" for service, actions in CALLER_ACTIONS.items()
                                             for action in actions), "Resource": "*"},
        {"Effect": "Allow", "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
         "Resource": _invocable(params)},  # Converse is authorised as InvokeModel
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": settings.role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}},
        {"Effect": "Allow", "Action": ["s3:CreateBucket", "s3:PutBucketTagging", "s3:GetBucketTagging",
                                       "s3:DeleteBucket"],
         "Resource": f"arn:aws:s3:::{settings.bucket}"},
        *_bucket_statement(params), *_marketplace_statement(params)]}


def policies(params: StudyParams) -> dict[str, list[dict[str, Any]]]:
    """The identity policies of each principal that acts in a run: the caller, and the role Bedrock assumes."""
    return {"caller": [caller_policy(params)], "role": [role_policies(params)["permissions"]]}
