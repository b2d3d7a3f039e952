"""An in-memory stand-in for the controller's service, for wire-level tests.

It honours the `service.handle(operation, request)` contract (validated request in, response
dict with float-epoch timestamps out, `orchestrator.errors` raised) and uses the real
`controller.rules` and `controller.listing` helpers, so endpoint tests exercise them over HTTP.
It never runs anything: tuning jobs stay InProgress until stopped.
"""

from __future__ import annotations

import threading
from typing import Any

from orchestrator.config import Quotas
from orchestrator.controller import listing, rules
from orchestrator.errors import ResourceInUse, ResourceNotFound, ValidationError

OPERATIONS = frozenset(
    {
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        "ListHyperParameterTuningJobs",
        "ListTrainingJobsForHyperParameterTuningJob",
        "StopHyperParameterTuningJob",
        "DeleteHyperParameterTuningJob",
        "CreateTrainingJob",
        "DescribeTrainingJob",
        "ListTrainingJobs",
        "StopTrainingJob",
        "AddTags",
        "ListTags",
        "DeleteTags",
    }
)
ARN = "arn:aws:sagemaker:us-east-1:123456789012"


class FakeService:
    supported_operations = OPERATIONS

    def __init__(self, quotas: Quotas | None = None, clock: Any = None) -> None:
        self.quotas = quotas or Quotas()
        self._now = clock or _Ticker()
        self._tuning: dict[str, dict] = {}
        self._training: dict[str, dict] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self.calls: list[tuple[str, dict]] = []

    def handle(self, operation: str, request: dict) -> dict:
        with self._lock:
            self.calls.append((operation, request))
            return getattr(self, "_" + _snake(operation))(request)

    # -- tuning jobs --------------------------------------------------------------------------

    def _create_hyper_parameter_tuning_job(self, req: dict) -> dict:
        name = req["HyperParameterTuningJobName"]
        if name.lower() in self._tuning:
            raise ResourceInUse(
                f"A hyperparameter tuning job with the name, {name}, already exists. "
                "Choose a different name."
            )
        rules.check_tuning_job_request(req, self.quotas)
        parents = []
        for entry in req.get("WarmStartConfig", {}).get("ParentHyperParameterTuningJobs", []):
            found = self._tuning.get(entry.get("HyperParameterTuningJobName", "").lower())
            if found is not None:
                parents.append(
                    found["request"] | {"HyperParameterTuningJobStatus": found["status"]}
                )
        rules.check_warm_start(req, parents, self.quotas)
        arn = f"{ARN}:hyper-parameter-tuning-job/{name}"
        now = self._now()
        self._tuning[name.lower()] = {
            "request": req,
            "status": "InProgress",
            "arn": arn,
            "created": now,
            "modified": now,
        }
        self._tags[arn.lower()] = {t["Key"]: t["Value"] for t in req.get("Tags", [])}
        return {"HyperParameterTuningJobArn": arn}

    def _job(self, name: str) -> dict:
        job = self._tuning.get(name.lower())
        if job is None:
            raise ResourceNotFound(
                f"Amazon SageMaker can't find a tuning job called {name}. Type another name."
            )
        return job

    def _describe_hyper_parameter_tuning_job(self, req: dict) -> dict:
        job = self._job(req["HyperParameterTuningJobName"])
        r = job["request"]
        cfg = dict(r["HyperParameterTuningJobConfig"])
        cfg["ResourceLimits"] = dict(
            cfg["ResourceLimits"], MaxNumberOfTrainingJobs=rules.default_max_jobs(r)
        )
        return {
            "HyperParameterTuningJobName": r["HyperParameterTuningJobName"],
            "HyperParameterTuningJobArn": job["arn"],
            "HyperParameterTuningJobConfig": cfg,
            "TrainingJobDefinition": r.get("TrainingJobDefinition"),
            "TrainingJobDefinitions": r.get("TrainingJobDefinitions"),
            "HyperParameterTuningJobStatus": job["status"],
            "CreationTime": job["created"],
            "LastModifiedTime": job["modified"],
            "TrainingJobStatusCounters": dict.fromkeys(
                ("Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped"), 0
            ),
            "ObjectiveStatusCounters": dict.fromkeys(("Succeeded", "Pending", "Failed"), 0),
            "InternalOnly": "never on the wire",
        }

    def _list_hyper_parameter_tuning_jobs(self, req: dict) -> dict:
        page, token = listing.list_page(
            self._tuning.values(),
            req,
            sort_keys={
                "Name": lambda j: listing.name_key(j["request"]["HyperParameterTuningJobName"]),
                "Status": lambda j: j["status"],
                "CreationTime": lambda j: j["created"],
            },
            default_sort_by="Name",
            name=lambda j: j["request"]["HyperParameterTuningJobName"],
            status=lambda j: j["status"],
            creation_time=lambda j: j["created"],
            last_modified_time=lambda j: j["modified"],
        )
        summaries = [
            {
                "HyperParameterTuningJobName": j["request"]["HyperParameterTuningJobName"],
                "HyperParameterTuningJobArn": j["arn"],
                "HyperParameterTuningJobStatus": j["status"],
                "Strategy": j["request"]["HyperParameterTuningJobConfig"]["Strategy"],
                "CreationTime": j["created"],
                "LastModifiedTime": j["modified"],
                "TrainingJobStatusCounters": {},
                "ObjectiveStatusCounters": {},
            }
            for j in page
        ]
        return {"HyperParameterTuningJobSummaries": summaries, "NextToken": token}

    def _list_training_jobs_for_hyper_parameter_tuning_job(self, req: dict) -> dict:
        self._job(req["HyperParameterTuningJobName"])
        return {"TrainingJobSummaries": []}

    def _stop_hyper_parameter_tuning_job(self, req: dict) -> dict:
        job = self._job(req["HyperParameterTuningJobName"])
        if job["status"] != "InProgress":
            raise ValidationError(f"The hyperparameter tuning job is in status {job['status']}.")
        job["status"], job["modified"] = "Stopped", self._now()
        return {}

    def _delete_hyper_parameter_tuning_job(self, req: dict) -> dict:
        job = self._job(req["HyperParameterTuningJobName"])
        if job["status"] not in ("Completed", "Stopped", "Failed"):
            raise ValidationError("The hyperparameter tuning job is not in a terminal state.")
        del self._tuning[req["HyperParameterTuningJobName"].lower()]
        return {}

    # -- training jobs ------------------------------------------------------------------------

    def _create_training_job(self, req: dict) -> dict:
        name = req["TrainingJobName"]
        arn = f"{ARN}:training-job/{name}"
        if name.lower() in self._training:
            raise ResourceInUse(
                "Training job names must be unique within an AWS account and region, and a "
                f"training job with this name already exists ({arn})"
            )
        rules.check_training_job_request(req)
        self._training[name.lower()] = {"request": req, "arn": arn, "created": self._now()}
        return {"TrainingJobArn": arn}

    def _training_job(self, name: str) -> dict:
        job = self._training.get(name.lower())
        if job is None:
            raise ValidationError("Requested resource not found.")
        return job

    def _describe_training_job(self, req: dict) -> dict:
        job = self._training_job(req["TrainingJobName"])
        r = job["request"]
        return {
            "TrainingJobName": r["TrainingJobName"],
            "TrainingJobArn": job["arn"],
            "ModelArtifacts": {"S3ModelArtifacts": "s3://b/k/output/model.tar.gz"},
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "StoppingCondition": r["StoppingCondition"],
            "CreationTime": job["created"],
            "HyperParameters": r.get("HyperParameters"),
        }

    def _list_training_jobs(self, req: dict) -> dict:
        page, token = listing.list_page(
            self._training.values(),
            req,
            sort_keys={
                "Name": lambda j: listing.name_key(j["request"]["TrainingJobName"]),
                "CreationTime": lambda j: j["created"],
                "Status": lambda j: "InProgress",
            },
            default_sort_by="CreationTime",
            name=lambda j: j["request"]["TrainingJobName"],
            creation_time=lambda j: j["created"],
        )
        return {
            "TrainingJobSummaries": [
                {
                    "TrainingJobName": j["request"]["TrainingJobName"],
                    "TrainingJobArn": j["arn"],
                    "CreationTime": j["created"],
                    "TrainingJobStatus": "InProgress",
                }
                for j in page
            ],
            "NextToken": token,
        }

    def _stop_training_job(self, req: dict) -> dict:
        self._training_job(req["TrainingJobName"])
        return {}

    # -- tags -----------------------------------------------------------------------------

    def _tag_set(self, arn: str) -> dict[str, str]:
        tags = self._tags.get(arn.lower())
        if tags is None:
            raise ValidationError("Resource does not exist")
        return tags

    def _add_tags(self, req: dict) -> dict:
        self._tag_set(req["ResourceArn"]).update({t["Key"]: t["Value"] for t in req["Tags"]})
        return {"Tags": req["Tags"]}

    def _list_tags(self, req: dict) -> dict:
        items = [{"Key": k, "Value": v} for k, v in self._tag_set(req["ResourceArn"]).items()]
        page, token = listing.paginate(items, req.get("NextToken"), req.get("MaxResults"), 50)
        return {"Tags": page, "NextToken": token}

    def _delete_tags(self, req: dict) -> dict:
        tags = self._tag_set(req["ResourceArn"])
        for key in req["TagKeys"]:
            tags.pop(key, None)
        return {}


class _Ticker:
    """Creation times one second apart, so sort orders are deterministic."""

    def __init__(self, start: float = 1_700_000_000.25) -> None:
        self._t = start

    def __call__(self) -> float:
        self._t += 1.0
        return self._t


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
