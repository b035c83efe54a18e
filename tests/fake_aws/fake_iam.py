"""A stand-in for IAM's `GetRole` and `iam:SimulatePrincipalPolicy` that answers as the service does
(IAM API reference): the simulator evaluates the principal's identity policies with the context
entries it is given (iam_rules.evaluate: a condition key missing from the context makes the
condition false, and is listed under `MissingContextValues`); its `PolicySourceArn` must be a
user, group or role ARN (a root or session ARN is `InvalidInput`); an unknown one is `NoSuchEntity`.

Attached to one botocore client at its `before-call` event, after botocore validated the request;
each response is validated against the service model, as fake_bedrock.py does.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

try:
    from . import iam_rules
except ImportError:  # imported as a top-level module beside the notebooks' kernels
    import iam_rules

NOW = "2026-11-26T00:00:00Z"


class FakeIam:
    def __init__(self) -> None:
        self.roles: dict[str, str] = {}  # role name -> its ARN (path included)
        self.policies: dict[str, list[dict[str, Any]]] = {}  # principal ARN -> its identity policies

    def add_role(self, arn: str, *documents: dict[str, Any]) -> None:
        self.roles[arn.rsplit("/", 1)[1]] = arn
        self.policies[arn] = list(documents)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.iam.*", self._keep)
        client.meta.events.register("before-call.iam.*", self)
        return client

    @staticmethod
    def _keep(params: dict, context: dict, **kwargs: Any) -> None:
        context["fake_params"] = dict(params)

    def GetRole(self, p: dict) -> dict | tuple[str, str, int]:
        arn = self.roles.get(p["RoleName"])
        if arn is None:
            return "NoSuchEntity", f"The role with name {p['RoleName']} cannot be found.", 404
        path = "/" + arn.split(":role/", 1)[1].rsplit("/", 1)[0] + "/" if arn.count("/") > 1 else "/"
        return {"Role": {"Path": path, "RoleName": p["RoleName"], "RoleId": "AROAEXAMPLE0000000001", "Arn": arn,
                         "CreateDate": NOW}}

    def SimulatePrincipalPolicy(self, p: dict) -> dict | tuple[str, str, int]:
        source = p["PolicySourceArn"]
        kind = source.split(":", 5)[5].split("/")[0] if source.count(":") >= 5 else ""
        if not source.startswith("arn:aws:iam::") or kind not in ("user", "group", "role"):
            return "InvalidInput", f"Invalid Entity Arn: {source} does not clear our validation check.", 400
        if source not in self.policies:
            return "NoSuchEntity", f"{source} cannot be found.", 404
        context = {entry["ContextKeyName"]: tuple(entry["ContextKeyValues"]) for entry in p.get("ContextEntries", [])}
        results = []
        for action in p["ActionNames"]:
            for resource in p.get("ResourceArns", ["*"]):
                decision = iam_rules.evaluate(self.policies[source], action, resource, context)
                results.append({"EvalActionName": action, "EvalResourceName": resource,
                                "EvalDecision": decision.decision, "MissingContextValues": list(decision.missing),
                                "MatchedStatements": []})
        return {"EvaluationResults": results, "IsTruncated": False}

    def __call__(self, model: Any, context: dict, **kwargs: Any) -> tuple[AWSResponse, dict]:
        reply = getattr(self, model.name)(context["fake_params"])
        if isinstance(reply, tuple):
            code, message, status = reply
            return AWSResponse("fake://", status, {}, None), {"Error": {"Code": code, "Message": message}}
        errors = ParamValidator().validate(reply, model.output_shape)
        if errors.has_errors():
            raise AssertionError(f"the fake's {model.name} response does not fit the service model:\n"
                                 f"{errors.generate_report()}")
        return AWSResponse("fake://", 200, {}, None), reply
