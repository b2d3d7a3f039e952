"""STS and IAM, as far as SageMaker SDKs ask them before they train (issue 17).

SDK v3's `ModelTrainer(role=ARN)` validates the role (`iam:GetRole`, then
`iam:SimulatePrincipalPolicy` for the SageMaker actions it needs) and, without a role, asks
`sts:GetCallerIdentity`. Locally no one enforces IAM, so:
- GetCallerIdentity answers for the configured account (`Settings.account_id`) as an assumed
  role, the identity a SageMaker user usually has (session `smlocal`, or with authentication
  on the access key id that signed the request);
- GetRole answers for any role name with a trust policy that lets sagemaker.amazonaws.com
  assume it (a role ARN is only a string to smlocal; every training job "uses" it);
- SimulatePrincipalPolicy allows every action on every resource asked about.
Every other STS/IAM action gets `InvalidAction` naming what is served (from `AwsEndpoint`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from orchestrator.errors import ServiceError

# The identity smlocal answers for: a SageMaker execution role, assumed by the caller.
ROLE_NAME = "SageMakerRole"
SESSION_NAME = "smlocal"
# Fixed so repeated GetRole calls agree; no real creation date exists for a local role.
ROLE_CREATE_DATE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }],
}


def _unique_id(prefix: str, name: str) -> str:
    """AWS-style unique ids (`AROA…` for roles), stable for a name."""
    return prefix + hashlib.sha256(name.encode()).hexdigest()[:17].upper()


class StsService:
    """`caller()`: the access key id the request was signed with when authentication is on
    (`api.auth.caller`). The answer is then for that key: the role session is named after it,
    as AWS names the sessions of credentials it hands out (e.g. a SageMaker job's)."""

    supported_operations = frozenset({"GetCallerIdentity"})

    def __init__(self, account_id: str, caller: Callable[[], str | None] = lambda: None) -> None:
        self.account_id = account_id
        self.caller = caller

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        role_id = _unique_id("AROA", ROLE_NAME)
        session = self.caller() or SESSION_NAME
        return {
            "UserId": f"{role_id}:{session}",
            "Account": self.account_id,
            "Arn": f"arn:aws:sts::{self.account_id}:assumed-role/{ROLE_NAME}/{session}",
        }


class IamService:
    supported_operations = frozenset({"GetRole", "SimulatePrincipalPolicy"})

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "GetRole":
            return {"Role": self.role(params["RoleName"])}
        return self.simulate(params)

    def role(self, name: str) -> dict[str, Any]:
        if not name or "/" in name:
            raise ServiceError("ValidationError",
                               f"The specified value for roleName is invalid: {name!r}.")
        return {
            "Path": "/",
            "RoleName": name,
            "RoleId": _unique_id("AROA", name),
            "Arn": f"arn:aws:iam::{self.account_id}:role/{name}",
            "CreateDate": ROLE_CREATE_DATE,
            # IAM returns policy documents URL-encoded; botocore decodes them back.
            "AssumeRolePolicyDocument": quote(json.dumps(TRUST_POLICY)),
            "Description": "Answered by smlocal: local training jobs accept any role.",
            "MaxSessionDuration": 3600,
        }

    def simulate(self, params: dict[str, Any]) -> dict[str, Any]:
        resources = params.get("ResourceArns") or ["*"]
        return {
            "EvaluationResults": [
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": "allowed",
                    "MatchedStatements": [],
                    "MissingContextValues": [],
                }
                for action in params["ActionNames"]
                for resource in resources
            ],
            "IsTruncated": False,
        }
